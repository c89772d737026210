package firewall

import (
	"testing"

	"github.com/nslab/nslab/netns"
)

// Every call of the iptables backend that runs the iptables tools runs
// under Options.Exec, from New's `iptables --version` to Teardown, so that
// a daemon reaping every child can leave those tools to their starter.
func TestIPTablesCallsRunUnderExec(t *testing.T) {
	needRoot(t)
	ns, _ := newNS(t, "exec")
	calls := 0
	exec := func(call func() error) error {
		calls++
		return call()
	}
	var b Backend
	err := netns.Do(ns, func() (err error) {
		b, err = NewWithOptions(KindIPTables, Options{Exec: exec})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if calls == 0 {
		t.Fatal("New ran iptables outside Exec")
	}
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"Setup", b.Setup},
		{"AddNetwork", func() error { return b.AddNetwork(br1) }},
		{"AddPort", func() error { return b.AddPort(web) }},
		{"RemovePort", func() error { return b.RemovePort(web) }},
		{"RemoveNetwork", func() error { return b.RemoveNetwork(br1) }},
		{"SetForwardPolicy", func() error { return b.SetForwardPolicy(PolicyAccept) }},
		{"Teardown", b.Teardown},
	} {
		before := calls
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if calls == before {
			t.Errorf("%s ran iptables outside Exec", step.name)
		}
	}
}
