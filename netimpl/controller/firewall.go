package hostd

import "github.com/nslab/nslab/netimpl/firewall"

// reapGuard is the firewall backend as hostd uses it: the iptables backend
// runs the iptables tools with os/exec and waits for them, so every call
// holds hostd's reaper off the zombies it did not register (see reaper).
type reapGuard struct {
	firewall.Backend
	r *reaper
}

func (g reapGuard) guard(fn func() error) error {
	g.r.beginForeign()
	defer g.r.endForeign()
	return fn()
}

func (g reapGuard) Setup() error { return g.guard(g.Backend.Setup) }

func (g reapGuard) Teardown() error { return g.guard(g.Backend.Teardown) }

func (g reapGuard) AddNetwork(n firewall.Network) error {
	return g.guard(func() error { return g.Backend.AddNetwork(n) })
}

func (g reapGuard) RemoveNetwork(n firewall.Network) error {
	return g.guard(func() error { return g.Backend.RemoveNetwork(n) })
}

func (g reapGuard) AddPort(p firewall.Port) error {
	return g.guard(func() error { return g.Backend.AddPort(p) })
}

func (g reapGuard) RemovePort(p firewall.Port) error {
	return g.guard(func() error { return g.Backend.RemovePort(p) })
}

func (g reapGuard) AddLink(l firewall.Link) error {
	return g.guard(func() error { return g.Backend.AddLink(l) })
}

func (g reapGuard) RemoveLink(l firewall.Link) error {
	return g.guard(func() error { return g.Backend.RemoveLink(l) })
}

func (g reapGuard) SetForwardPolicy(policy string) error {
	return g.guard(func() error { return g.Backend.SetForwardPolicy(policy) })
}
