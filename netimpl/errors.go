package netimpl

import (
	"errors"
	"fmt"
)

// Kind classifies an engine error the way Docker's errdefs does, so that the
// API layer can answer with Docker's status code and Docker's exact text.
type Kind int

const (
	// KindUnknown is an internal failure (HTTP 500).
	KindUnknown Kind = iota
	// KindInvalid is a bad request (400).
	KindInvalid
	// KindForbidden is an operation Docker refuses outright (403).
	KindForbidden
	// KindNotFound names something that does not exist (404).
	KindNotFound
	// KindConflict clashes with the current state (409).
	KindConflict
	// KindUnavailable is a resource that has run out, such as the
	// addresses of a pool (503).
	KindUnavailable
)

// Error is an engine error whose message is the one Docker prints.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf makes an *Error of the given kind.
func Errorf(kind Kind, format string, a ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}

// KindOf returns the kind of the first *Error in err's chain, or KindUnknown.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}
