// Package enginetest holds the checks that the tests of netimpl's drivers
// share: an engine error's kind and Docker's text, and the contract of a
// driver with one network only.
package enginetest

import (
	"errors"
	"testing"

	"github.com/nslab/nslab/netimpl"
)

// WantErr checks that err is an engine error of kind with exactly msg, the
// text Docker answers with.
func WantErr(t testing.TB, err error, kind netimpl.Kind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %q, got no error", msg)
	}
	var ne *netimpl.Error
	if !errors.As(err, &ne) || ne.Kind != kind || ne.Msg != msg {
		t.Fatalf("want kind %d %q, got %v (kind %d)", kind, msg, err, netimpl.KindOf(err))
	}
}

// WantOneNetwork checks a driver that allows one network of its type, as
// Docker's host and null drivers do: a second is forbidden until the first
// is deleted.
func WantOneNetwork(t testing.TB, d netimpl.Driver) {
	t.Helper()
	typ := d.Info().Name
	a, b := &netimpl.Network{ID: "a"}, &netimpl.Network{ID: "b"}
	if err := d.CreateNetwork(a); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateNetwork(b); netimpl.KindOf(err) != netimpl.KindForbidden {
		t.Fatalf("second %s network: %v", typ, err)
	}
	if err := d.DeleteNetwork(a); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateNetwork(b); err != nil {
		t.Fatalf("after delete: %v", err)
	}
}
