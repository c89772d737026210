package lab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/netns"
)

var (
	// ErrNotResettable: the lab lost something up made that Reset cannot
	// make again (a daemon or etcd member that died, a link of up's that
	// was deleted). Take it down and bring it up again.
	ErrNotResettable = errors.New("the lab cannot be reset")
	// ErrNoBaseline: the lab was brought up without its state being kept
	// for Reset (Options.Resettable).
	ErrNoBaseline = errors.New("no baseline to reset to")
	// ErrResetIncomplete: after Reset the lab still differs from how up
	// left it; the error lists what differs.
	ErrResetIncomplete = errors.New("the lab differs from how up left it")
)

// Reset puts the lab back to the state Up made, without taking it down:
// every container, network, volume and image the daemons got since is
// removed (and a container of the topology that went is made again), the
// etcd cluster's keys are those up left, processes started in the hosts
// since are killed (the daemons and etcd members stay), namespaces pinned
// since are unpinned, what was mounted or made in a host's own /run since
// goes, as do Open vSwitch bridges made since, and in the fabric and every host links, addresses,
// routes, policy rules, sysctls, qdiscs and firewall rules added since go
// and those changed come back, link impairments included; connection
// tracking and neighbour caches are emptied. Then it reads the lab again
// and compares it with how up left it: anything that still differs is an
// error wrapping ErrResetIncomplete that lists it. A lab whose daemon or
// etcd member died, or whose link up made was deleted, cannot be reset
// (ErrNotResettable). The lab must have been brought up with
// Options.Resettable (nslab up does), in this process or another.
func (l *Lab) Reset(ctx context.Context) error {
	t0 := time.Now()
	base, err := l.loadBaseline()
	if err != nil {
		return err
	}
	if err := l.checkDaemons(base); err != nil {
		return err
	}
	// No daemon acts in the fabric's and the plain hosts' namespaces: they
	// are put back while the daemons are, the others once their daemons
	// and switches are done.
	quiet, busy := l.splitPins()
	var (
		quietAfter map[string]*nsState
		quietErr   error
		quietDone  = make(chan struct{})
	)
	go func() {
		defer close(quietDone)
		quietAfter, quietErr = l.resetNamespaces(base, quiet)
	}()
	err = l.resetStores(ctx, base)
	l.timings.since("reset: daemons and etcd", t0)
	// The strays are looked for once the quiet namespaces are back: the
	// tools that put them back (nft, iptables-restore) run inside them and
	// would count as strays.
	<-quietDone
	var procs []procInfo
	if err == nil {
		t1 := time.Now()
		procs, err = l.resetProcsAndRun(ctx, base)
		l.timings.since("reset: processes and /run", t1)
	}
	var after map[string]*nsState
	if err == nil {
		t2 := time.Now()
		after, err = l.resetKernel(ctx, base, busy)
		l.timings.since("reset: namespaces after the daemons", t2)
	}
	if err = errors.Join(err, quietErr); err != nil {
		return fmt.Errorf("lab %s: reset: %w", l.ID(), err)
	}
	maps.Copy(after, quietAfter)
	t3 := time.Now()
	defer l.timings.since("reset: links and read-back", t3)
	if err := l.resetLegs(ctx, base.Legs, after); err != nil {
		return fmt.Errorf("lab %s: reset: %w", l.ID(), err)
	}
	return l.checkReset(ctx, base, after, procs)
}

// resetProcsAndRun kills the processes started in the lab since base and
// puts the hosts' own /run back; it returns the processes left.
func (l *Lab) resetProcsAndRun(ctx context.Context, base *baseline) ([]procInfo, error) {
	procs, err := l.killStrays(ctx, base)
	if err != nil {
		return nil, err
	}
	return procs, l.resetHosts(ctx, base.Hosts)
}

// splitPins parts the pins of the lab's namespaces into those no daemon
// acts in (the fabric's, the plain hosts') and the others: the docker
// hosts' and those of hosts with Open vSwitch, whose bridges resetHosts
// deletes.
func (l *Lab) splitPins() (quiet, busy []string) {
	quiet = []string{l.ID() + "-" + fabricPinName}
	for _, h := range l.hosts {
		if h.Spec.Kind == KindDocker || h.Spec.OVS {
			busy = append(busy, l.ID()+"-"+h.Name)
		} else {
			quiet = append(quiet, l.ID()+"-"+h.Name)
		}
	}
	return quiet, busy
}

// resetStores puts back what the daemons and the etcd cluster hold: the
// daemons' containers, networks, volumes, images; etcd's keys; and the
// daemons themselves when they may have moved on (see reset_daemons.go).
func (l *Lab) resetStores(ctx context.Context, base *baseline) error {
	restart, err := l.daemonsMoved(ctx, base.Taken)
	if err != nil {
		return err
	}
	if l.Runtime() == RuntimeHostd {
		t0 := time.Now()
		if err := l.resetHostds(ctx); err != nil {
			return err
		}
		l.timings.since("reset: hostd in process", t0)
	}
	if err := l.resetDaemons(ctx, base.Daemons); err != nil {
		return err
	}
	if restart {
		if err := l.stopDaemons(ctx); err != nil {
			return err
		}
	}
	if base.Etcd != nil {
		if err := resetEtcd(ctx, l.etcdHosts()[0], base.Etcd); err != nil {
			return err
		}
	}
	if restart {
		return l.startDaemonsAgain(ctx, base)
	}
	return nil
}

// resetKernel unpins what base lacks, then puts the namespaces at pins
// back (see resetNamespaces).
func (l *Lab) resetKernel(ctx context.Context, base *baseline, pins []string) (map[string]*nsState, error) {
	now, err := labPins(l.ID())
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, p := range now {
		if !slices.Contains(base.Pins, strings.TrimPrefix(p, netns.RunDir+"/")) {
			if err := netns.Delete(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	after, err := l.resetNamespaces(base, pins)
	return after, errors.Join(append(errs, err)...)
}

// resetNamespaces puts the namespaces at pins back, all at once, and
// returns them as they are afterwards.
func (l *Lab) resetNamespaces(base *baseline, pins []string) (map[string]*nsState, error) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		errs  []error
		after = map[string]*nsState{}
	)
	for _, pin := range pins {
		s, ok := base.Namespaces[pin]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: not in the baseline", pin))
			continue
		}
		wg.Go(func() {
			defer l.timings.since("reset: namespace "+strings.TrimPrefix(pin, l.ID()+"-"), time.Now())
			a, err := resetNS(netns.Path(pin), s)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			after[pin] = a
		})
	}
	wg.Wait()
	return after, errors.Join(errs...)
}

// resetLegs plugs in, unplugs and degrades each host interface's link as
// up left it (the topology's impairment, if any), where it differs. That
// changes the fabric: its namespace is dropped from after, to be read
// again.
func (l *Lab) resetLegs(ctx context.Context, base map[string]LinkStatus, after map[string]*nsState) error {
	now, err := l.readLegs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range l.hosts {
		for _, i := range h.Spec.Interfaces {
			k := h.Name + "/" + i.Name
			if now[k] == base[k] {
				continue
			}
			delete(after, l.ID()+"-"+fabricPinName)
			errs = append(errs, h.ClearImpairment(ctx, i.Name))
			if i.Impairment != nil && !i.Impairment.IsZero() {
				errs = append(errs, h.Impair(ctx, i.Name, *i.Impairment))
			}
			errs = append(errs, h.SetLink(ctx, i.Name, base[k].FabricEnd.Up))
		}
	}
	return errors.Join(errs...)
}

// checkReset reads the lab again (but the namespaces and processes it is
// handed as they are now) and fails with what still differs from base.
func (l *Lab) checkReset(ctx context.Context, base *baseline, namespaces map[string]*nsState, procs []procInfo) error {
	now, err := l.read(ctx, base, namespaces, procs)
	if err != nil {
		return fmt.Errorf("lab %s: reset: reading it back: %w", l.ID(), err)
	}
	d := diffFacts(base.facts(nil), now.facts(base))
	had := map[proc]bool{}
	for _, p := range base.Procs {
		had[p.proc()] = true
	}
	keep := daemonProcs(now.Procs, l.rootProcs())
	for _, p := range now.Procs {
		if !had[p.proc()] && !keep[p.PID] {
			d = append(d, "+ process "+p.String())
		}
	}
	if len(d) > 0 {
		return fmt.Errorf("lab %s: %w:\n%s", l.ID(), ErrResetIncomplete, strings.Join(d, "\n"))
	}
	return nil
}
