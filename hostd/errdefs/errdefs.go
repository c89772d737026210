// Package errdefs holds the errors of hostd's Docker Engine API: an error
// with the HTTP status Docker answers it with, and the one mapping of every
// error hostd meets (its own, the image store's, the network engine's) to
// Docker's status code and message.
package errdefs

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/netimpl"
)

// Error is an error with the HTTP status Docker answers it with. Its
// message is Docker's text, sent as {"message": "..."}.
type Error struct {
	code int
	msg  string
}

func (e *Error) Error() string { return e.msg }

// Errorf is an error Docker answers with status code and the message.
func Errorf(code int, format string, a ...any) error {
	return &Error{code: code, msg: fmt.Sprintf(format, a...)}
}

// BadRequest, NotFound and Conflict are Errorf with Docker's 400, 404 and
// 409.
func BadRequest(format string, a ...any) error { return Errorf(http.StatusBadRequest, format, a...) }
func NotFound(format string, a ...any) error   { return Errorf(http.StatusNotFound, format, a...) }
func Conflict(format string, a ...any) error   { return Errorf(http.StatusConflict, format, a...) }

// IsNotFound says whether Docker answers err with 404.
func IsNotFound(err error) bool {
	if err == nil {
		return false
	}
	code, _ := Status(err)
	return code == http.StatusNotFound
}

// WithPrefix is err with prefix put before its message, and its status.
func WithPrefix(err error, format string, a ...any) error {
	code, msg := Status(err)
	return Errorf(code, "%s%s", fmt.Sprintf(format, a...), msg)
}

// ErrNotModified answers a start of a running or a stop of a stopped
// container, as Docker does: 304 and no body.
var ErrNotModified = &Error{code: http.StatusNotModified}

// Status maps an error to Docker's status code and message. Engine errors
// carry their kind; the message is the engine's own (Docker's) text.
func Status(err error) (int, string) {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.code, ae.msg
	}
	switch {
	case errors.Is(err, image.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, image.ErrConflict):
		return http.StatusConflict, err.Error()
	case errors.Is(err, image.ErrInvalid):
		return http.StatusBadRequest, err.Error()
	}
	var ne *netimpl.Error
	if errors.As(err, &ne) {
		switch ne.Kind {
		case netimpl.KindInvalid:
			return http.StatusBadRequest, ne.Msg
		case netimpl.KindForbidden:
			return http.StatusForbidden, ne.Msg
		case netimpl.KindNotFound:
			return http.StatusNotFound, ne.Msg
		case netimpl.KindConflict:
			return http.StatusConflict, ne.Msg
		case netimpl.KindUnavailable:
			return http.StatusServiceUnavailable, ne.Msg
		}
		return http.StatusInternalServerError, ne.Msg
	}
	return http.StatusInternalServerError, err.Error()
}
