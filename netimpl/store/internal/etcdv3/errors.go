package etcdv3

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Code is a gRPC status code, which the gateway passes on from etcd.
type Code int32

// The codes etcd answers with that a client tells apart.
const (
	CodeCanceled           Code = 1
	CodeUnknown            Code = 2
	CodeInvalidArgument    Code = 3
	CodeDeadlineExceeded   Code = 4
	CodeNotFound           Code = 5
	CodeFailedPrecondition Code = 9
	CodeOutOfRange         Code = 11
	CodeUnavailable        Code = 14
)

// Error is an error the cluster answered with: etcd's gRPC status, as the
// gateway forwards it.
type Error struct {
	Code    Code
	Message string // etcd's, e.g. "etcdserver: no leader"
}

func (e *Error) Error() string { return e.Message }

// Is makes errors.Is(err, ErrNoLeader) and the like match any error with
// the same code and message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == e.Message
}

// Unavailable says the cluster could not serve the request then (no
// leader, no quorum in time, the request canceled on its way): another
// try, later or elsewhere, may succeed.
func (e *Error) Unavailable() bool {
	return e.Code == CodeUnavailable || e.Code == CodeDeadlineExceeded || e.Code == CodeCanceled
}

// The errors of etcd's rpctypes that the store tells apart, with the same
// codes and messages.
var (
	ErrNoLeader                   = &Error{Code: CodeUnavailable, Message: "etcdserver: no leader"}
	ErrLeaderChanged              = &Error{Code: CodeUnavailable, Message: "etcdserver: leader changed"}
	ErrTimeout                    = &Error{Code: CodeUnavailable, Message: "etcdserver: request timed out"}
	ErrTimeoutDueToLeaderFail     = &Error{Code: CodeUnavailable, Message: "etcdserver: request timed out, possibly due to previous leader failure"}
	ErrTimeoutDueToConnectionLost = &Error{Code: CodeUnavailable, Message: "etcdserver: request timed out, possibly due to connection lost"}
	ErrLeaseNotFound              = &Error{Code: CodeNotFound, Message: "etcdserver: requested lease not found"}
	ErrCompacted                  = &Error{Code: CodeOutOfRange, Message: "etcdserver: mvcc: required revision has been compacted"}
)

// gatewayError is the body of a failed answer. A unary call's error is
// {"error": MSG, "code": CODE, "message": MSG}; a stream's is
// {"error": {"grpc_code": CODE, "http_code": STATUS, "message": MSG, ...}}.
type gatewayError struct {
	Error   json.RawMessage `json:"error"`
	Code    Code            `json:"code"`
	Message string          `json:"message"`
}

type streamError struct {
	GRPCCode Code   `json:"grpc_code"`
	Code     Code   `json:"code"` // grpc-gateway v2's name of it (etcd 3.6)
	Message  string `json:"message"`
}

// decodeError reads the error the gateway answered with status and body.
// A body that is not the gateway's (a proxy's page, a path the server
// does not serve) becomes an Error with the code of the HTTP status.
func decodeError(status int, body []byte) *Error {
	var g gatewayError
	if err := json.Unmarshal(body, &g); err == nil {
		if e, ok := g.toError(); ok {
			return e
		}
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Code: codeOfStatus(status), Message: fmt.Sprintf("etcd gateway: HTTP %d: %s", status, msg)}
}

// toError turns either form of the gateway's error into an Error; ok is
// false when g holds neither.
// grpc-gateway v2 (etcd 3.6) leaves "error" out: {"code", "message"}.
func (g gatewayError) toError() (*Error, bool) {
	if bytes.HasPrefix(bytes.TrimSpace(g.Error), []byte("{")) {
		var s streamError
		if err := json.Unmarshal(g.Error, &s); err != nil || s.Message == "" {
			return nil, false
		}
		return &Error{Code: cmp.Or(s.GRPCCode, s.Code), Message: s.Message}, true
	}
	msg := g.Message
	if msg == "" && len(g.Error) > 0 {
		if err := json.Unmarshal(g.Error, &msg); err != nil {
			return nil, false
		}
	}
	if msg == "" || g.Code == 0 {
		return nil, false
	}
	return &Error{Code: g.Code, Message: msg}, true
}

// codeOfStatus inverts grpc-gateway's HTTPStatusFromCode where it can.
func codeOfStatus(status int) Code {
	switch status {
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	case http.StatusGatewayTimeout:
		return CodeDeadlineExceeded
	case http.StatusRequestTimeout:
		return CodeCanceled
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusBadRequest:
		return CodeInvalidArgument
	}
	return CodeUnknown
}

// readError reads a failed answer's body (at most 64 KiB) and decodes it.
func readError(resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return decodeError(resp.StatusCode, body)
}
