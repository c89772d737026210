package controller

import (
	"os/exec"
	"strings"

	"github.com/nslab/nslab/netimpl/firewall"
	"github.com/nslab/nslab/netns"
)

// forwardPolicy notes, before the firewall's Setup, whether IPv4
// forwarding is already on in the host's namespace and the iptables FORWARD
// policy then. dockerd 20.10 (setupIPForwarding) sets FORWARD to DROP only
// when it turns forwarding on itself; when forwarding was already on, the
// policy stays as it was. The firewall's Setup always sets DROP, so the
// controller puts the old policy back afterwards (restore).
type forwardPolicy struct {
	wasOn  bool
	policy string // "" when unknown
}

func noteForwardPolicy(guard func(func() error) error, kind string) forwardPolicy {
	var fp forwardPolicy
	// No thread of hostd but a throwaway one leaves the host's namespace,
	// so /proc/sys here is the virtual host's.
	v, err := netns.ReadSysctl("net/ipv4/ip_forward")
	fp.wasOn = err == nil && v == "1"
	if !fp.wasOn {
		return fp
	}
	if kind == firewall.KindNFTables {
		// The nftables backend's FORWARD chain is its own, in a table of
		// its own: before the controller there was none, so nothing of its tables
		// dropped forwarded traffic, and nothing should after.
		fp.policy = firewall.PolicyAccept
		return fp
	}
	var out []byte
	err = guard(func() (err error) {
		out, err = exec.Command("iptables", "-w", "-S", "FORWARD").Output()
		return err
	})
	if err != nil {
		return fp
	}
	if f := strings.Fields(strings.SplitN(string(out), "\n", 2)[0]); len(f) == 3 && f[0] == "-P" {
		fp.policy = f[2]
	}
	return fp
}

// restore puts back the FORWARD policy Setup changed, when forwarding was
// already on, through the backend: iptables' FORWARD chain, or the FORWARD
// base chain of the nftables backend's filter table.
func (fp forwardPolicy) restore(fw firewall.Backend) error {
	if !fp.wasOn || fp.policy == "" || fp.policy == firewall.PolicyDrop {
		return nil
	}
	return fw.SetForwardPolicy(fp.policy)
}
