package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

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
	base, err := l.loadBaseline()
	if err != nil {
		return err
	}
	if err := l.checkDaemons(base); err != nil {
		return err
	}
	if err := l.resetStores(ctx, base); err != nil {
		return fmt.Errorf("lab %s: reset: %w", l.ID(), err)
	}
	procs, err := l.killStrays(ctx, base)
	if err != nil {
		return err
	}
	if err := l.resetHosts(ctx, base.Hosts); err != nil {
		return fmt.Errorf("lab %s: reset: %w", l.ID(), err)
	}
	after, err := l.resetKernel(ctx, base)
	if err != nil {
		return fmt.Errorf("lab %s: reset: %w", l.ID(), err)
	}
	return l.checkReset(ctx, base, after, procs)
}

// resetStores puts back what the daemons and the etcd cluster hold: the
// daemons' containers, networks, volumes, images; etcd's keys; and the
// daemons themselves when they may have moved on (see reset_daemons.go).
func (l *Lab) resetStores(ctx context.Context, base *baseline) error {
	restart, err := l.daemonsMoved(ctx, base.Taken)
	if err != nil {
		return err
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

// resetKernel unpins what base lacks, then puts every namespace of the
// lab back, all at once, then the host interfaces' links. It returns the
// namespaces as they are afterwards.
func (l *Lab) resetKernel(ctx context.Context, base *baseline) (map[string]*nsState, error) {
	pins, err := labPins(l.ID())
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, p := range pins {
		if !slices.Contains(base.Pins, strings.TrimPrefix(p, netns.RunDir+"/")) {
			if err := netns.Delete(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		after = map[string]*nsState{}
	)
	for _, pin := range l.namespacePins() {
		s, ok := base.Namespaces[pin]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: not in the baseline", pin))
			continue
		}
		wg.Go(func() {
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
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	changed, err := l.resetLegs(ctx, base.Legs)
	if changed {
		// Plugging and degrading links changed the fabric.
		delete(after, l.ID()+"-"+fabricPinName)
	}
	return after, err
}

// resetLegs plugs in, unplugs and degrades each host interface's link as
// up left it (the topology's impairment, if any), where it differs, and
// says whether it did.
func (l *Lab) resetLegs(ctx context.Context, base map[string]LinkStatus) (bool, error) {
	now, err := l.readLegs(ctx)
	if err != nil {
		return false, err
	}
	var errs []error
	changed := false
	for _, h := range l.hosts {
		for _, i := range h.Spec.Interfaces {
			k := h.Name + "/" + i.Name
			if now[k] == base[k] {
				continue
			}
			changed = true
			errs = append(errs, h.ClearImpairment(ctx, i.Name))
			if i.Impairment != nil && !i.Impairment.IsZero() {
				errs = append(errs, h.Impair(ctx, i.Name, *i.Impairment))
			}
			errs = append(errs, h.SetLink(ctx, i.Name, base[k].FabricEnd.Up))
		}
	}
	return changed, errors.Join(errs...)
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
