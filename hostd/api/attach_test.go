package api

import (
	"bytes"
	"testing"
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
