package proc

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"golang.org/x/sys/unix"
)

func TestMultiplexedStream(t *testing.T) {
	var buf bytes.Buffer
	m := &MuxWriter{W: &buf}
	m.Write(StreamStdout, []byte("out\n"))
	m.Write(StreamStderr, []byte("err\n"))
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, &buf); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out\n" || errOut.String() != "err\n" {
		t.Fatalf("demuxed %q %q", out.String(), errOut.String())
	}
	raw := &bytes.Buffer{}
	(&MuxWriter{W: raw, TTY: true}).Write(StreamStdout, []byte("tty"))
	if raw.String() != "tty" {
		t.Fatalf("tty stream must be raw: %q", raw.String())
	}
}

func TestLogRecordsAreLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "container.log")
	s, err := NewStreams(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write(StreamStdout, []byte("a\nb\npartial"))
	s.Write(StreamStderr, []byte("e\n"))
	recs, err := ReadRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, string([]byte{'0' + r.Stream})+":"+string(r.Data))
		if time.Since(r.Time) > time.Minute {
			t.Fatalf("record time %v", r.Time)
		}
	}
	if strings.Join(got, "|") != "1:a\n|1:b\n|1:partial|2:e\n" {
		t.Fatalf("records %q", got)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"SIGKILL": unix.SIGKILL, "kill": unix.SIGKILL, "15": unix.SIGTERM, "HUP": unix.SIGHUP} {
		if got, err := ParseSignal(in, false); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	if sig, err := ParseSignal("", true); err != nil || sig != unix.SIGTERM {
		t.Errorf("empty: %v %v", sig, err)
	}
	for _, bad := range []string{"SIGFOO", "0", "99", ""} {
		if _, err := ParseSignal(bad, false); err == nil || !strings.HasPrefix(err.Error(), "Invalid signal: ") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
