package proc

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/creack/pty"
)

// Stdio is a container process's standard streams: the ends the process
// gets and the ends hostd keeps, a terminal's master or pipes. The
// container's command and `docker exec` both use it.
type Stdio struct {
	// The process's ends, closed once it started.
	ChildEnds [3]*os.File
	// hostd's ends: what the process writes (each with its stream), and
	// its input when it has one.
	outputs []*os.File
	streams []byte
	Stdin   io.WriteCloser
	// PTY is the terminal's master, when the process has a terminal.
	PTY   *os.File
	pumps sync.WaitGroup
}

// NewPipes makes pipes for the streams asked for: stdin, stdout, stderr.
// hostd holds the write end of stdin open, so that a shell started with
// -i waits for input instead of reading EOF.
func NewPipes(in, out, errOut bool) (*Stdio, error) {
	s := &Stdio{}
	for i, want := range []bool{in, out, errOut} {
		if !want {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			s.Close()
			return nil, err
		}
		if i == 0 {
			s.ChildEnds[0], s.Stdin = r, w
			continue
		}
		s.ChildEnds[i] = w
		s.outputs = append(s.outputs, r)
		s.streams = append(s.streams, []byte{0, StreamStdout, StreamStderr}[i])
	}
	return s, nil
}

// UseTerminal makes the master of a terminal the process's only output
// (and its input, with in), sized as the client asked.
func (s *Stdio) UseTerminal(master *os.File, in bool, size *[2]uint) {
	if size != nil && size[0] > 0 && size[1] > 0 {
		pty.Setsize(master, &pty.Winsize{Rows: uint16(size[0]), Cols: uint16(size[1])})
	}
	s.PTY = master
	s.outputs, s.streams = []*os.File{master}, []byte{StreamStdout}
	if in {
		s.Stdin = master
	}
}

// CloseChild closes the process's ends in hostd, once the process has
// them (or will never run).
func (s *Stdio) CloseChild() {
	for i, f := range s.ChildEnds {
		if f != nil {
			f.Close()
			s.ChildEnds[i] = nil
		}
	}
}

// Close closes every end.
func (s *Stdio) Close() {
	s.CloseChild()
	for _, f := range s.outputs {
		f.Close()
	}
	if s.Stdin != nil && s.Stdin != io.WriteCloser(s.PTY) {
		s.Stdin.Close()
	}
}

// Pump copies every output to sink until EOF (a pipe) or EIO (a terminal
// whose slave is closed everywhere).
func (s *Stdio) Pump(sink func(stream byte, p []byte)) {
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

// Drain waits for the pumps to deliver the last output, at most grace:
// a process the command left behind (outside hostd's reach, or a
// background child of an exec) may hold the output open; then reading
// stops. Every end is closed afterwards.
func (s *Stdio) Drain(grace time.Duration) {
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
	s.Close()
}
