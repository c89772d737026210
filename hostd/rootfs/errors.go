package rootfs

import "syscall"

// ErrorKind says how Docker reports a container process that could not
// start: its exit code and the status of the API answer.
type ErrorKind byte

const (
	// ErrSetup is anything else that failed (a mount, the user switch).
	ErrSetup ErrorKind = 's'
	// ErrNotFound is a command that does not exist (exit code 127).
	ErrNotFound ErrorKind = 'n'
	// ErrCannotExecute is a command that exists but cannot be executed
	// (exit code 126).
	ErrCannotExecute ErrorKind = 'x'
	// ErrUser is a --user (or --group-add) the image does not know.
	ErrUser ErrorKind = 'u'
	// ErrMountType is a file mounted on a directory or the reverse (exit
	// code 127, with Docker's hint).
	ErrMountType ErrorKind = 't'
)

// Error is a failure of the container's init or of an exec, in runc's
// words: hostd wraps Msg as Docker does ("OCI runtime create failed: ...").
type Error struct {
	Kind ErrorKind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// ExitCode is the exit code Docker records for the failure.
func (e *Error) ExitCode() int {
	switch e.Kind {
	case ErrNotFound, ErrMountType:
		return 127
	case ErrCannotExecute:
		return 126
	}
	return 0
}

func setupError(what string, err error) *Error {
	return &Error{Kind: ErrSetup, Msg: what + ": " + err.Error()}
}

// execError is how Go's exec package (which runc uses) words a command
// that cannot run: exec: "NAME": REASON.
func execError(name string, err error) *Error {
	kind := ErrCannotExecute
	if err == syscall.ENOENT || err == errNotInPath {
		kind = ErrNotFound
	}
	if se, ok := err.(*statError); ok && se.err == syscall.ENOENT {
		kind = ErrNotFound
	}
	return &Error{Kind: kind, Msg: "exec: " + quote(name) + ": " + err.Error()}
}

// statError is os.PathError's text for a stat: "stat PATH: REASON".
type statError struct {
	path string
	err  error
}

func (e *statError) Error() string { return "stat " + e.path + ": " + e.err.Error() }

// quote is strconv.Quote for the printable ASCII names of commands; other
// bytes are escaped as \xNN.
func quote(s string) string {
	const hex = "0123456789abcdef"
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x20 && c < 0x7f:
			b = append(b, c)
		default:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
		}
	}
	return string(append(b, '"'))
}

// itoa formats a non-negative number.
func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// atoi parses a decimal number below 2^32; ok is false for anything else.
func atoi(s string) (uint32, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	if n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}
