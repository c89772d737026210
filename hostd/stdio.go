package hostd

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/creack/pty"
)

// stdio is a container process's standard streams: the ends the process
// gets and the ends hostd keeps, a terminal's master or pipes. The
// container's command and `docker exec` both use it.
type stdio struct {
	// The process's ends, closed once it started.
	child [3]*os.File
	// hostd's ends: what the process writes (each with its stream), and
	// its input when it has one.
	outputs []*os.File
	streams []byte
	stdin   io.WriteCloser
	// pty is the terminal's master, when the process has a terminal.
	pty   *os.File
	pumps sync.WaitGroup
}

// newPipes makes pipes for the streams asked for: stdin, stdout, stderr.
// hostd holds the write end of stdin open, so that a shell started with
// -i waits for input instead of reading EOF.
func newPipes(in, out, errOut bool) (*stdio, error) {
	s := &stdio{}
	for i, want := range []bool{in, out, errOut} {
		if !want {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			s.close()
			return nil, err
		}
		if i == 0 {
			s.child[0], s.stdin = r, w
			continue
		}
		s.child[i] = w
		s.outputs = append(s.outputs, r)
		s.streams = append(s.streams, []byte{0, streamStdout, streamStderr}[i])
	}
	return s, nil
}

// useTerminal makes the master of a terminal the process's only output
// (and its input, with in), sized as the client asked.
func (s *stdio) useTerminal(master *os.File, in bool, size *[2]uint) {
	if size != nil && size[0] > 0 && size[1] > 0 {
		pty.Setsize(master, &pty.Winsize{Rows: uint16(size[0]), Cols: uint16(size[1])})
	}
	s.pty = master
	s.outputs, s.streams = []*os.File{master}, []byte{streamStdout}
	if in {
		s.stdin = master
	}
}

// closeChild closes the process's ends in hostd, once the process has
// them (or will never run).
func (s *stdio) closeChild() {
	for i, f := range s.child {
		if f != nil {
			f.Close()
			s.child[i] = nil
		}
	}
}

// close closes every end.
func (s *stdio) close() {
	s.closeChild()
	for _, f := range s.outputs {
		f.Close()
	}
	if s.stdin != nil && s.stdin != io.WriteCloser(s.pty) {
		s.stdin.Close()
	}
}

// pump copies every output to sink until EOF (a pipe) or EIO (a terminal
// whose slave is closed everywhere).
func (s *stdio) pump(sink func(stream byte, p []byte)) {
	for i, f := range s.outputs {
		s.pumps.Add(1)
		go func(f *os.File, stream byte) {
			defer s.pumps.Done()
			buf := make([]byte, 32*1024)
			for {
				n, err := f.Read(buf)
				if n > 0 {
					sink(stream, buf[:n])
				}
				if err != nil {
					return
				}
			}
		}(f, s.streams[i])
	}
}

// drain waits for the pumps to deliver the last output, at most grace:
// a process the command left behind (outside hostd's reach, or a
// background child of an exec) may hold the output open; then reading
// stops. Every end is closed afterwards.
func (s *stdio) drain(grace time.Duration) {
	drained := make(chan struct{})
	go func() { s.pumps.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(grace):
		for _, f := range s.outputs {
			f.SetReadDeadline(time.Now())
		}
		<-drained
	}
	s.close()
}
