package image

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// Error kinds: hostd answers them with Docker's status codes (404, 409,
// 400); the message is Docker's text.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid parameter")
)

// Error is an error of one of the kinds above with Docker's message.
type Error struct {
	kind error
	msg  string
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.kind }

func newError(kind error, format string, a ...any) error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, a...)}
}

// ParseNamed is Docker 20.10's reference.ParseNormalizedNamed: "alpine" is
// docker.io/library/alpine. Its errors are of kind ErrInvalid.
func ParseNamed(s string) (reference.Named, error) {
	// Docker 20.10 says so without naming the repository, as the newer
	// library does.
	if strings.ToLower(remoteName(s)) != remoteName(s) {
		return nil, newError(ErrInvalid, "invalid reference format: repository name must be lowercase")
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, newError(ErrInvalid, "%s", err.Error())
	}
	return named, nil
}

// remoteName is the repository path of a familiar reference without its
// registry, tag or digest, as Docker's splitDockerDomain cuts it.
func remoteName(s string) string {
	rest := s
	if i := strings.IndexRune(s, '/'); i >= 0 && (strings.ContainsAny(s[:i], ".:") || s[:i] == "localhost") {
		rest = s[i+1:]
	}
	if i := strings.IndexRune(rest, '@'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.IndexRune(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// ParseAny is Docker's reference.ParseAnyReference: 64 hex digits, with
// or without "sha256:", are an image ID, anything else a name.
func ParseAny(s string) (reference.Reference, error) {
	if r, err := reference.ParseAnyReference(s); err == nil {
		if _, named := r.(reference.Named); !named {
			return r, nil
		}
	}
	return ParseNamed(s)
}

// WithTag is the reference with the tag; ErrInvalid "invalid tag format"
// when it is not one.
func WithTag(n reference.Named, tag string) (reference.Named, error) {
	t, err := reference.WithTag(reference.TrimNamed(n), tag)
	if err != nil {
		return nil, newError(ErrInvalid, "%s", err.Error())
	}
	return t, nil
}

// Domain is the registry of a reference ("docker.io" for "alpine").
func Domain(n reference.Named) string { return reference.Domain(n) }

// Familiar is a reference as Docker prints it ("alpine:latest").
func Familiar(r reference.Reference) string { return reference.FamiliarString(r) }

// WithDefaultTag adds ":latest" to a reference without a tag or digest.
func WithDefaultTag(n reference.Named) reference.Named { return reference.TagNameOnly(n) }

// MatchReference is the "reference" filter of docker images: a pattern
// such as "alp*" or "team/*:1" against a tag, as Docker's FamiliarMatch.
func MatchReference(pattern, tag string) (bool, error) {
	named, err := reference.ParseNormalizedNamed(tag)
	if err != nil {
		return false, err
	}
	return reference.FamiliarMatch(pattern, named)
}

// errNoSuchImage is Docker's ErrImageDoesNotExist: the reference with its
// default tag, in its familiar form.
func errNoSuchImage(r reference.Reference) error {
	if n, ok := r.(reference.Named); ok {
		r = reference.TagNameOnly(n)
	}
	return newError(ErrNotFound, "No such image: %s", reference.FamiliarString(r))
}
