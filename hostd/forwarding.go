package hostd

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
)

// forwardPolicy notes, before the firewall's Setup, whether IPv4
// forwarding is already on in the host's namespace and the iptables FORWARD
// policy then. dockerd 20.10 (setupIPForwarding) sets FORWARD to DROP only
// when it turns forwarding on itself; when forwarding was already on, the
// policy stays as it was. The firewall's Setup always sets DROP, so hostd
// puts the old policy back afterwards (restore).
type forwardPolicy struct {
	wasOn  bool
	policy string // "" when unknown
}

func noteForwardPolicy(r *reaper, kind string) forwardPolicy {
	var fp forwardPolicy
	// hostd's main thread never leaves the host's namespace, so /proc/sys
	// here is the virtual host's.
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	fp.wasOn = err == nil && bytes.HasPrefix(b, []byte("1"))
	if !fp.wasOn || (kind != "" && kind != "iptables") {
		return fp
	}
	r.beginForeign()
	out, err := exec.Command("iptables", "-w", "-S", "FORWARD").Output()
	r.endForeign()
	if err != nil {
		return fp
	}
	if f := strings.Fields(strings.SplitN(string(out), "\n", 2)[0]); len(f) == 3 && f[0] == "-P" {
		fp.policy = f[2]
	}
	return fp
}

// restore puts back the FORWARD policy Setup changed, when forwarding was
// already on. Only the iptables backend is concerned: the nftables one
// keeps its policy in a chain of its own.
func (fp forwardPolicy) restore(r *reaper) error {
	if !fp.wasOn || fp.policy == "" || fp.policy == "DROP" {
		return nil
	}
	r.beginForeign()
	defer r.endForeign()
	if out, err := exec.Command("iptables", "-w", "-P", "FORWARD", fp.policy).CombinedOutput(); err != nil {
		return &execError{err: err, out: strings.TrimSpace(string(out))}
	}
	return nil
}

type execError struct {
	err error
	out string
}

func (e *execError) Error() string { return "iptables -P FORWARD: " + e.err.Error() + ": " + e.out }
