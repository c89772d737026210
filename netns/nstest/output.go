package nstest

import (
	"bytes"
	"io"
	"sync"
	"testing"
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

// Started stops the test at err, the error of the call that made c, and
// otherwise has c closed when the test ends, an error of Close failing
// the test: s, err := probe.ServeTCPEcho(ns, addr); nstest.Started(t, s, err).
func Started[C io.Closer](t testing.TB, c C, err error) C {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}
