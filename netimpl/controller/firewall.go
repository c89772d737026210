package controller

import "github.com/nslab/nslab/netimpl/firewall"

// guarded is the firewall backend as the controller uses it: the iptables
// backend runs the iptables tools with os/exec and waits for them, so
// every call runs under the daemon's guard (Options.Guard), which keeps
// its reaper off the children it did not start.
type guarded struct {
	firewall.Backend
	guard func(func() error) error
}

func (g guarded) Setup() error { return g.guard(g.Backend.Setup) }

func (g guarded) Teardown() error { return g.guard(g.Backend.Teardown) }

func (g guarded) AddNetwork(n firewall.Network) error {
	return g.guard(func() error { return g.Backend.AddNetwork(n) })
}

func (g guarded) RemoveNetwork(n firewall.Network) error {
	return g.guard(func() error { return g.Backend.RemoveNetwork(n) })
}

func (g guarded) AddPort(p firewall.Port) error {
	return g.guard(func() error { return g.Backend.AddPort(p) })
}

func (g guarded) RemovePort(p firewall.Port) error {
	return g.guard(func() error { return g.Backend.RemovePort(p) })
}

func (g guarded) AddLink(l firewall.Link) error {
	return g.guard(func() error { return g.Backend.AddLink(l) })
}

func (g guarded) RemoveLink(l firewall.Link) error {
	return g.guard(func() error { return g.Backend.RemoveLink(l) })
}

func (g guarded) SetForwardPolicy(policy string) error {
	return g.guard(func() error { return g.Backend.SetForwardPolicy(policy) })
}
