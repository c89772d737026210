package hostd

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/netimpl"
)

// apiError is an error with the HTTP status Docker answers it with. Its
// message is Docker's text, sent as {"message": "..."}.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func errorf(code int, format string, a ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) error { return errorf(http.StatusBadRequest, format, a...) }
func notFound(format string, a ...any) error   { return errorf(http.StatusNotFound, format, a...) }
func conflict(format string, a ...any) error   { return errorf(http.StatusConflict, format, a...) }

// withPrefix is err with prefix put before its message, and its status.
func withPrefix(err error, format string, a ...any) error {
	code, msg := statusOf(err)
	return errorf(code, "%s%s", fmt.Sprintf(format, a...), msg)
}

// errNotModified answers a start of a running or a stop of a stopped
// container, as Docker does: 304 and no body.
var errNotModified = &apiError{code: http.StatusNotModified}

func errNoSuchContainer(ref string) error { return notFound("No such container: %s", ref) }

func errNotRunning(id string) error { return conflict("Container %s is not running", id) }

// statusOf maps an error to Docker's status code and message. Engine errors
// carry their kind; the message is the engine's own (Docker's) text.
func statusOf(err error) (int, string) {
	var ae *apiError
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
