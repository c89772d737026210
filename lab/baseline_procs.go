package lab

import (
	"context"
	"fmt"
	"syscall"

	"github.com/nslab/nslab/netns/kernel"
)

// processes lists the processes in the lab's namespaces, with their
// parent and command name.
func (l *Lab) processes() []procInfo {
	held := newHeldNamespaces()
	defer held.close()
	held.add(l.ID(), l.dir)
	var out []procInfo
	for _, p := range held.scan() {
		if i, ok := readProcInfo(p); ok {
			out = append(out, i)
		}
	}
	return out
}

// readProcInfo reads p's parent and command name from /proc/PID/stat;
// false when p has gone.
func readProcInfo(p proc) (procInfo, bool) {
	st, err := kernel.ReadProcessStat(p.pid)
	if err != nil {
		return procInfo{}, false
	}
	return procInfo{PID: p.pid, Start: p.start, PPID: st.PPID, Comm: st.Comm}, true
}

// rootProcs are the daemons of the lab: each host's (hostd, or dockerd),
// and each etcd member.
func (l *Lab) rootProcs() map[int]bool {
	roots := map[int]bool{}
	l.mu.Lock()
	for _, h := range l.hosts {
		if pid := h.hostdPID(); pid > 0 {
			roots[pid] = true
		}
	}
	l.mu.Unlock()
	for _, h := range l.etcdHosts() {
		if p, ok := h.etcdProc(); ok {
			roots[p.pid] = true
		}
	}
	return roots
}

// daemonProcs are the processes of procs Reset keeps whatever they are:
// the lab's daemons and what they started (dockerd's containerd, a
// daemon's own helpers; the containers they ran went with their removal
// before).
func daemonProcs(procs []procInfo, roots map[int]bool) map[int]bool {
	parent := map[int]int{}
	for _, p := range procs {
		parent[p.PID] = p.PPID
	}
	keep := map[int]bool{}
	for _, p := range procs {
		// Up the chain of parents, as far as the lab's namespaces go.
		for pid, n := p.PID, 0; pid > 1 && n < 64; pid, n = parent[pid], n+1 {
			if roots[pid] {
				keep[p.PID] = true
				break
			}
		}
	}
	return keep
}

// checkDaemons says whether every daemon and etcd member of base still
// runs: Reset cannot start them again as Up did, so a lab that lost one
// is not resettable.
func (l *Lab) checkDaemons(base *baseline) error {
	for _, p := range base.Roots {
		if !p.proc().alive() {
			return fmt.Errorf("lab %s: %w: %s, which up started, is gone", l.ID(), ErrNotResettable, p)
		}
	}
	return nil
}

// killStrays kills the processes of the lab's namespaces that base does
// not have and no daemon started: a student's shells, servers and sleep
// loops, namespaces' last users. It waits until they are gone, and returns
// the processes left.
func (l *Lab) killStrays(ctx context.Context, base *baseline) ([]procInfo, error) {
	had := map[proc]bool{}
	for _, p := range base.Procs {
		had[p.proc()] = true
	}
	var victims []proc
	for round := 0; round < 3; round++ {
		procs := l.processes()
		keep := daemonProcs(procs, l.rootProcs())
		victims = victims[:0]
		for _, p := range procs {
			if !had[p.proc()] && !keep[p.PID] {
				victims = append(victims, p.proc())
				syscall.Kill(p.PID, syscall.SIGKILL)
			}
		}
		if len(victims) == 0 {
			return procs, nil
		}
		waitGone(ctx, victims, killGrace)
	}
	return nil, fmt.Errorf("lab %s: %d processes outlived SIGKILL (first: pid %d)", l.ID(), len(victims), victims[0].pid)
}
