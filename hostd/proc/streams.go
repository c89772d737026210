package proc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// Streams is a container's standard streams across its runs, like Docker's
// StreamConfig: the output log, the attached clients, and the stdin of the
// current run.
type Streams struct {
	mu      sync.Mutex
	cond    *sync.Cond
	log     *os.File
	logPath string
	tty     bool
	subs    map[*Session]struct{}
	running bool
	stdin   io.WriteCloser
	closed  bool
}

// Session is one attached client (or a following `logs -f`).
type Session struct {
	Out            *MuxWriter
	Stdout, Stderr bool
	// Deadline bounds each write, so that a client that stopped reading
	// cannot stall the container's output for long.
	Deadline   func(time.Time) error
	Flush      func()
	Timestamps bool
	Done       chan struct{}
	ended      bool
}

func NewStreams(logPath string, tty bool) (*Streams, error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	s := &Streams{log: f, logPath: logPath, tty: tty, subs: map[*Session]struct{}{}}
	s.cond = sync.NewCond(&s.mu)
	return s, nil
}

// BeginRun connects the stdin of a new run.
func (s *Streams) BeginRun(stdin io.WriteCloser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = true
	s.stdin = stdin
	s.cond.Broadcast()
}

// EndRun ends every attached session once the run's output is all written,
// as Docker closes attach streams when the container stops.
func (s *Streams) EndRun() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	if s.stdin != nil {
		s.stdin.Close()
		s.stdin = nil
	}
	for sub := range s.subs {
		s.end(sub)
	}
	s.cond.Broadcast()
}

// Close ends everything and closes the log, when the container is removed.
func (s *Streams) Close() {
	s.EndRun()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.log.Close()
	s.cond.Broadcast()
}

func (s *Streams) end(sub *Session) {
	if !sub.ended {
		sub.ended = true
		close(sub.Done)
	}
	delete(s.subs, sub)
}

// AttachWith replays stored output to a session (logs=1) and adds it, in
// one critical section so that no output falls between the two. The
// Session receives the output of the current run, or of the next one when
// the container is not running (docker run attaches before it starts).
func (s *Streams) AttachWith(sub *Session, replay func([]LogRecord)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	recs, _ := ReadRecords(s.logPath)
	replay(recs)
	sub.Done = make(chan struct{})
	s.subs[sub] = struct{}{}
	return true
}

// Detach removes a session whose client went away.
func (s *Streams) Detach(sub *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end(sub)
	s.cond.Broadcast()
}

// Write records output in the log and sends it to every session. Each line
// becomes its own log record, as Docker's json-file driver stores lines, so
// that `logs --tail N` counts lines.
func (s *Streams) Write(stream byte, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	now := time.Now().UnixNano()
	for rest := p; len(rest) > 0; {
		n := bytes.IndexByte(rest, '\n') + 1
		if n == 0 {
			n = len(rest)
		}
		WriteRecord(s.log, stream, now, rest[:n])
		rest = rest[n:]
	}
	for sub := range s.subs {
		if (stream == StreamStdout && !sub.Stdout) || (stream == StreamStderr && !sub.Stderr) {
			continue
		}
		if sub.Deadline != nil {
			sub.Deadline(time.Now().Add(10 * time.Second))
		}
		data := p
		if sub.Timestamps {
			data = append([]byte(time.Unix(0, now).UTC().Format(time.RFC3339Nano)+" "), p...)
		}
		if err := sub.Out.Write(stream, data); err != nil {
			s.end(sub)
			continue
		}
		if sub.Flush != nil {
			sub.Flush()
		}
	}
}

// WriteStdin passes a client's input to the current run's stdin, waiting
// for the run to start when the client attached before it.
func (s *Streams) WriteStdin(sub *Session, p []byte) error {
	s.mu.Lock()
	for s.stdin == nil && !sub.ended && !s.closed {
		s.cond.Wait()
	}
	w := s.stdin
	s.mu.Unlock()
	if w == nil {
		return io.ErrClosedPipe
	}
	// Written without the lock: a process that does not read its stdin
	// must not block its own output.
	_, err := w.Write(p)
	return err
}

// CloseStdin closes the current run's stdin (StdinOnce: the attached
// client's input ended).
func (s *Streams) CloseStdin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stdin != nil && !s.tty {
		s.stdin.Close()
	}
}

// LogRecord is one stored piece of output.
type LogRecord struct {
	Stream byte
	Time   time.Time
	Data   []byte
}

const recordHeader = 16

// WriteRecord appends a record: stream, 3 zero bytes, uint32 length,
// int64 unix nanoseconds, data.
func WriteRecord(w io.Writer, stream byte, nanos int64, data []byte) error {
	var hdr [recordHeader]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:8], uint32(len(data)))
	binary.BigEndian.PutUint64(hdr[8:16], uint64(nanos))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// ReadRecords reads every record of the log.
func ReadRecords(path string) ([]LogRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []LogRecord
	for {
		var hdr [recordHeader]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return out, nil
			}
			return out, err
		}
		data := make([]byte, binary.BigEndian.Uint32(hdr[4:8]))
		if _, err := io.ReadFull(r, data); err != nil {
			return out, nil
		}
		out = append(out, LogRecord{
			Stream: hdr[0],
			Time:   time.Unix(0, int64(binary.BigEndian.Uint64(hdr[8:16]))),
			Data:   data,
		})
	}
}

// Snapshot replays the log so far through replay and, when follow is set
// and the container is running, attaches sub in the same critical section
// so that no output falls between the two. It reports whether sub follows.
func (s *Streams) Snapshot(sub *Session, follow bool, replay func([]LogRecord)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, _ := ReadRecords(s.logPath)
	replay(recs)
	if !follow || !s.running || s.closed {
		return false
	}
	sub.Done = make(chan struct{})
	s.subs[sub] = struct{}{}
	return true
}
