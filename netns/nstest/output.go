package nstest

import (
	"bytes"
	"sync"
)

// Output collects what a child process writes (its Stdout or Stderr), for
// the test to read while the child still runs: os/exec copies a pipe into
// a non-file writer from a goroutine of its own, so the buffer is locked.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String is what was written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}
