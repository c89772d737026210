package proc

import (
	"encoding/binary"
	"io"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// Stream numbers of Docker's multiplexed stream format, as moby's stdcopy
// (which clients read the stream with, stdcopy.StdCopy) numbers them.
// moby's API module ships only that reader; the writer below is the
// daemon's half of the format.
const (
	StreamStdin  = byte(stdcopy.Stdin)
	StreamStdout = byte(stdcopy.Stdout)
	StreamStderr = byte(stdcopy.Stderr)
)

// MuxWriter writes a container's output to one client: raw for a tty, else
// in Docker's multiplexed format (an 8-byte header: stream, three zero
// bytes, big-endian uint32 length, then the data). It is safe for the
// concurrent stdout and stderr pumps.
type MuxWriter struct {
	mu  sync.Mutex
	W   io.Writer
	TTY bool
}

func (m *MuxWriter) Write(stream byte, p []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.TTY {
		_, err := m.W.Write(p)
		return err
	}
	var hdr [8]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := m.W.Write(hdr[:]); err != nil {
		return err
	}
	_, err := m.W.Write(p)
	return err
}
