package api

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/nslab/nslab/hostd/errdefs"
)

func TestDetachKeys(t *testing.T) {
	keys, err := parseDetachKeys("")
	if err != nil || !bytes.Equal(keys, []byte{16, 17}) {
		t.Fatalf("default keys %v %v", keys, err)
	}
	if keys, _ := parseDetachKeys("ctrl-a,x,ctrl-["); !bytes.Equal(keys, []byte{1, 'x', 27}) {
		t.Fatalf("keys %v", keys)
	}
	if _, err := parseDetachKeys("ctrl-1"); err == nil {
		t.Fatal("ctrl-1 accepted")
	}
	e := &escapeScanner{keys: []byte{16, 17}}
	// A partial sequence split over two reads is held back, then released.
	out, det := e.filter([]byte{'a', 16})
	if det || string(out) != "a" {
		t.Fatalf("first %q %v", out, det)
	}
	out, det = e.filter([]byte{'b', 16, 17, 'c'})
	if !det || !bytes.Equal(out, []byte{16, 'b'}) {
		t.Fatalf("second %q %v", out, det)
	}
}

// since and until as dockerd reads them: seconds, and a fraction scaled to
// nanoseconds whatever its length; a logs request's 0 is no time.
func TestTimestamps(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"12", time.Unix(12, 0)},
		{"12.5", time.Unix(12, 500_000_000)},
		{"12.000000005", time.Unix(12, 5)},
		{"1733480000.123456789", time.Unix(1733480000, 123456789)},
	} {
		if got, err := eventTime(c.in); err != nil || !got.Equal(c.want) {
			t.Errorf("eventTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if got, err := unixTime(c.in); err != nil || !got.Equal(c.want) {
			t.Errorf("unixTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if got, err := unixTime("0"); err != nil || !got.IsZero() {
		t.Errorf("unixTime(0) = %v, %v; want no time", got, err)
	}
	if _, err := eventTime("1.5x"); err == nil || err.Error() != `strconv.ParseInt: parsing "5x": invalid syntax` {
		t.Errorf("eventTime(1.5x): %v; want strconv's error", err)
	}
	_, err := unixTime("soon")
	if code, msg := errdefs.Status(err); code != http.StatusBadRequest || msg != `invalid time value "soon"` {
		t.Errorf("unixTime(soon): %d %q; want 400 and invalid time value", code, msg)
	}
}
