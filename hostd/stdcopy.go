package hostd

import (
	"encoding/binary"
	"io"
	"sync"
)

// Stream numbers of Docker's multiplexed stream format.
const (
	streamStdin  byte = 0
	streamStdout byte = 1
	streamStderr byte = 2
)

// muxWriter writes a container's output to one client: raw for a tty, else
// in Docker's multiplexed format (an 8-byte header: stream, three zero
// bytes, big-endian uint32 length, then the data). It is safe for the
// concurrent stdout and stderr pumps.
type muxWriter struct {
	mu  sync.Mutex
	w   io.Writer
	tty bool
}

func (m *muxWriter) write(stream byte, p []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tty {
		_, err := m.w.Write(p)
		return err
	}
	var hdr [8]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := m.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := m.w.Write(p)
	return err
}

// streamWriter is the io.Writer of one stream of a muxWriter.
type streamWriter struct {
	m      *muxWriter
	stream byte
}

func (s streamWriter) Write(p []byte) (int, error) {
	if err := s.m.write(s.stream, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
