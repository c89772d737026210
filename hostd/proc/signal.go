package proc

import (
	"strconv"
	"strings"

	"github.com/nslab/nslab/hostd/errdefs"
	"golang.org/x/sys/unix"
)

// ParseSignal reads a signal as Docker accepts it: "SIGKILL", "KILL" or
// "9". An empty string is SIGTERM when allowEmpty is set.
func ParseSignal(s string, allowEmpty bool) (unix.Signal, error) {
	if s == "" && allowEmpty {
		return unix.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, errdefs.BadRequest("Invalid signal: %s", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errdefs.BadRequest("Invalid signal: %s", s)
}
