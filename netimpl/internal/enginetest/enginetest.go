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
// Docker's host and null drivers do: it describes itself as want, and a
// second network is forbidden until the first is deleted.
func WantOneNetwork(t testing.TB, d netimpl.Driver, want netimpl.DriverInfo) {
	t.Helper()
	if info := d.Info(); info != want {
		t.Fatalf("info %+v, want %+v", info, want)
	}
	typ := want.Name
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

// Engine makes an engine over the drivers (opts.Registry is made of them)
// in opts.HostNS. When the test ends the engine is closed (an error fails
// the test), then every driver with a Close, then left, if not nil, checks
// what the host still holds. Call it after the host's namespace is made,
// so that all this runs before the namespace goes.
func Engine(t testing.TB, opts netimpl.Options, left func(), drivers ...netimpl.Driver) *netimpl.Engine {
	t.Helper()
	var e *netimpl.Engine
	t.Cleanup(func() {
		if e != nil {
			if err := e.Close(); err != nil {
				t.Errorf("%s: engine close: %v", opts.HostNS, err)
			}
		}
		for _, d := range drivers {
			if c, ok := d.(interface{ Close() error }); ok {
				c.Close()
			}
		}
		if e != nil && left != nil {
			left()
		}
	})
	reg, err := netimpl.NewRegistry(drivers...)
	if err != nil {
		t.Fatal(err)
	}
	opts.Registry = reg
	if e, err = netimpl.New(opts); err != nil {
		t.Fatal(err)
	}
	return e
}
