package etcdv2

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Error is an error the cluster answered with: a v2 error body
// {"errorCode", "message", "cause", "index"} and the HTTP status.
type Error struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"` // etcd's, e.g. "Key not found"
	Cause   string `json:"cause"`   // the key, or what failed: "[3 != 5]"
	Index   uint64 `json:"index"`   // the cluster's index when it answered
	Status  int    `json:"-"`
}

func (e *Error) Error() string {
	if e.Cause == "" {
		return fmt.Sprintf("etcd: %s (%d)", e.Message, e.Code)
	}
	return fmt.Sprintf("etcd: %s (%d): %s", e.Message, e.Code, e.Cause)
}

// Is makes errors.Is(err, ErrKeyNotFound) and the like match any error
// with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Unavailable says the cluster could not serve the request then (raft
// could not commit it in time, a leader election, an answer that was not
// etcd's): another try, later or elsewhere, may succeed.
func (e *Error) Unavailable() bool {
	switch e.Code {
	case CodeRaftInternal, CodeLeaderElect:
		return true
	case 0:
		return e.Status >= 500
	}
	return false
}

// The codes of etcd's v2 errors the store tells apart.
const (
	CodeKeyNotFound       = 100
	CodeTestFailed        = 101
	CodeNotFile           = 102
	CodeNotDir            = 104
	CodeNodeExist         = 105
	CodeDirNotEmpty       = 108
	CodeRaftInternal      = 300
	CodeLeaderElect       = 301
	CodeEventIndexCleared = 401
)

// maxErrorBody bounds how much of a failed answer is read.
const maxErrorBody = 64 << 10

// Errors to compare with errors.Is.
var (
	ErrKeyNotFound       = &Error{Code: CodeKeyNotFound, Message: "Key not found"}
	ErrTestFailed        = &Error{Code: CodeTestFailed, Message: "Compare failed"}
	ErrNotFile           = &Error{Code: CodeNotFile, Message: "Not a file"}
	ErrNodeExist         = &Error{Code: CodeNodeExist, Message: "Key already exists"}
	ErrDirNotEmpty       = &Error{Code: CodeDirNotEmpty, Message: "Directory not empty"}
	ErrRaftInternal      = &Error{Code: CodeRaftInternal, Message: "Raft Internal Error"}
	ErrLeaderElect       = &Error{Code: CodeLeaderElect, Message: "During Leader Election"}
	ErrEventIndexCleared = &Error{Code: CodeEventIndexCleared, Message: "The event in requested index is outdated and cleared"}
)

// decodeError reads the error answered with status and body. A body that
// is not etcd's (a proxy's page, a path the server does not serve)
// becomes an Error of code 0 with the status.
func decodeError(status int, body []byte) *Error {
	var e Error
	if err := json.Unmarshal(body, &e); err == nil && e.Code != 0 && e.Message != "" {
		e.Status = status
		return &e
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Status: status, Message: fmt.Sprintf("HTTP %d: %s", status, msg)}
}

// readError reads a failed answer's body (at most 64 KiB) and decodes it.
func readError(resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return decodeError(resp.StatusCode, body)
}
