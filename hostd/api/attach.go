package api

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nslab/nslab/hostd"

	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/proc"
)

// defaultDetachKeys is Docker's ctrl-p,ctrl-q.
var defaultDetachKeys = []byte{16, 17}

// parseDetachKeys reads Docker's detach-key syntax: "ctrl-p,ctrl-q",
// single characters, ctrl-@ and ctrl-[ ... ctrl-_.
func parseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return defaultDetachKeys, nil
	}
	var keys []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			keys = append(keys, k[0])
		case strings.HasPrefix(k, "ctrl-") && len(k) == 6:
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				keys = append(keys, c-'a'+1)
			case c == '@':
				keys = append(keys, 0)
			case c >= '[' && c <= '_':
				keys = append(keys, c-'['+27)
			default:
				return nil, errdefs.BadRequest("Invalid detach keys (%s) provided", s)
			}
		default:
			return nil, errdefs.BadRequest("Invalid detach keys (%s) provided", s)
		}
	}
	return keys, nil
}

// escapeScanner finds the detach sequence in a client's input, holding back
// a partial match until it is decided, as Docker's escape proxy does.
type escapeScanner struct {
	keys []byte
	pos  int
}

// filter returns the bytes to pass on and whether the sequence completed.
func (e *escapeScanner) filter(in []byte) ([]byte, bool) {
	out := make([]byte, 0, len(in))
	for _, b := range in {
		if b == e.keys[e.pos] {
			e.pos++
			if e.pos == len(e.keys) {
				return out, true
			}
			continue
		}
		if e.pos > 0 {
			out = append(out, e.keys[:e.pos]...)
			e.pos = 0
			if b == e.keys[0] {
				e.pos = 1
				continue
			}
		}
		out = append(out, b)
	}
	return out, false
}

// replayLog writes stored records to a session. Callers hold the streams'
// lock (through snapshot) so that live output cannot overtake the replay.
func replayLog(sub *proc.Session, recs []proc.LogRecord, timestamps bool) {
	for _, rec := range recs {
		if (rec.Stream == proc.StreamStdout && !sub.Stdout) || (rec.Stream == proc.StreamStderr && !sub.Stderr) {
			continue
		}
		data := rec.Data
		if timestamps {
			data = append([]byte(rec.Time.UTC().Format(time.RFC3339Nano)+" "), data...)
		}
		if sub.Out.Write(rec.Stream, data) != nil {
			return
		}
	}
	if sub.Flush != nil {
		sub.Flush()
	}
}

// containerAttach hijacks the connection and streams the container's
// output (and, with stdin=1, its input) until the container stops, the
// client detaches or goes away. `docker run` attaches before it starts.
func (s *server) containerAttach(w http.ResponseWriter, r *http.Request) error {
	c, err := s.d.Container(r.PathValue("id"))
	if err != nil {
		return err
	}
	keys, err := parseDetachKeys(r.FormValue("detachKeys"))
	if err != nil {
		return err
	}
	stream, logs := boolValue(r, "stream"), boolValue(r, "logs")
	wantStdin := boolValue(r, "stdin") && c.Config.OpenStdin
	conn, in, err := hijack(w, r)
	if err != nil {
		return err
	}
	s.d.ContainerEventUnlocked(c, "attach", nil)
	defer conn.Close()
	sub := &proc.Session{
		Out:      &proc.MuxWriter{W: conn, TTY: c.Config.Tty},
		Stdout:   boolValue(r, "stdout"),
		Stderr:   boolValue(r, "stderr"),
		Deadline: conn.SetWriteDeadline,
	}
	if !stream {
		if logs {
			c.Streams().Snapshot(sub, false, func(recs []proc.LogRecord) { replayLog(sub, recs, false) })
		}
		return nil
	}
	replay := func([]proc.LogRecord) {}
	if logs {
		replay = func(recs []proc.LogRecord) { replayLog(sub, recs, false) }
	}
	if !c.Streams().AttachWith(sub, replay) {
		return nil
	}
	go func() {
		if !wantStdin {
			// Nothing to forward; reading still notices a client that
			// goes away (EOF is only the client's half-close).
			if _, err := io.Copy(io.Discard, in); err != nil {
				c.Streams().Detach(sub)
			}
			return
		}
		s.copyStdin(c, sub, in, keys)
	}()
	<-sub.Done
	return nil
}

// copyStdin forwards a client's input to the container.
func (s *server) copyStdin(c *hostd.Container, sub *proc.Session, in *bufio.Reader, keys []byte) {
	esc := &escapeScanner{keys: keys}
	buf := make([]byte, 32*1024)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			out, detach := esc.filter(buf[:n])
			if len(out) > 0 {
				if werr := c.Streams().WriteStdin(sub, out); werr != nil {
					return
				}
			}
			if detach {
				c.Streams().Detach(sub)
				return
			}
		}
		if errors.Is(err, io.EOF) {
			if c.Config.StdinOnce {
				c.Streams().CloseStdin()
			}
			return
		}
		if err != nil {
			c.Streams().Detach(sub)
			return
		}
	}
}

// flushWriter flushes an HTTP response after every write, so a followed
// log reaches the client as it is written.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

func (s *server) containerLogs(w http.ResponseWriter, r *http.Request) error {
	c, err := s.d.Container(r.PathValue("id"))
	if err != nil {
		return err
	}
	stdout, stderr := boolValue(r, "stdout"), boolValue(r, "stderr")
	if !stdout && !stderr {
		return errdefs.BadRequest("Bad parameters: you must choose at least one stream")
	}
	since, err := unixTime(r.FormValue("since"))
	if err != nil {
		return err
	}
	until, err := unixTime(r.FormValue("until"))
	if err != nil {
		return err
	}
	tail := -1
	if t := r.FormValue("tail"); t != "" && t != "all" {
		if tail, err = strconv.Atoi(t); err != nil || tail < 0 {
			return errdefs.BadRequest("invalid tail value %q", t)
		}
	}
	timestamps := boolValue(r, "timestamps")
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", rawStream)
	w.WriteHeader(http.StatusOK)
	sub := &proc.Session{
		Out:        &proc.MuxWriter{W: flushWriter{w: w, rc: rc}, TTY: c.Config.Tty},
		Stdout:     stdout,
		Stderr:     stderr,
		Deadline:   rc.SetWriteDeadline,
		Timestamps: timestamps,
	}
	following := c.Streams().Snapshot(sub, boolValue(r, "follow") && until.IsZero(), func(recs []proc.LogRecord) {
		var keep []proc.LogRecord
		// As Docker's json-file reader: the tail counts every line of the
		// log, the stream selection applies afterwards (in replayLog).
		for _, rec := range recs {
			if (!since.IsZero() && rec.Time.Before(since)) || (!until.IsZero() && rec.Time.After(until)) {
				continue
			}
			keep = append(keep, rec)
		}
		if tail >= 0 && len(keep) > tail {
			keep = keep[len(keep)-tail:]
		}
		replayLog(sub, keep, timestamps)
	})
	if !following {
		return nil
	}
	select {
	case <-sub.Done:
	case <-r.Context().Done():
		c.Streams().Detach(sub)
	}
	return nil
}

// unixTime reads a logs request's since or until as eventTime does; 0 is
// no time too, and a malformed one is a 400.
func unixTime(v string) (time.Time, error) {
	if v == "0" {
		return time.Time{}, nil
	}
	t, err := eventTime(v)
	if err != nil {
		return time.Time{}, errdefs.BadRequest("invalid time value %q", v)
	}
	return t, nil
}
