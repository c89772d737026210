package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/lab"
)

// idRE is the lab id contract of package lab, checked here as well so that
// a bad --id is refused before anything (even the state root) is made.
var idRE = regexp.MustCompile(`^[a-z][a-z0-9]{2,9}$`)

// downTimeout bounds a teardown; hostd gets a few seconds per host, in
// parallel, and every namespace unmount waits for an RCU grace period.
const downTimeout = 2 * time.Minute

type upFlags struct {
	id      string
	detach  bool
	keeper  bool
	timeout time.Duration
	runtime string // lab.RuntimeHostd or lab.RuntimeDockerd
	images  string // a `docker save` archive every docker host starts with
	// onDemand starts each docker host's daemon at its first use
	// (lab.Options.OnDemand).
	onDemand bool
}

func newUpCmd(a *app) *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "up FILE",
		Short: "Build the lab a topology file describes",
		Long: `Build the lab a topology file describes. In the foreground, nslab prints
how to reach the hosts and takes the lab down again on Ctrl-C (SIGINT) or
SIGTERM. With --detach, a background keeper owns the lab until ` + "`nslab down`" + `.
A topology with errors is reported (file:line: field: message) with exit
status 2, and nothing is made.`,
		Example: `  nslab up fixtures/classroom.yaml
  nslab up --detach --id class fixtures/classroom.yaml
  nslab up --images myapp.tar fixtures/classroom.yaml
  nslab up --detach --on-demand fixtures/classroom.yaml
  nslab up --runtime dockerd --images myapp.tar fixtures/overlay.yaml`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.up(argv[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.id, "id", "", "lab id, ^[a-z][a-z0-9]{2,9}$ (default: nsl + 4 random hex digits)")
	fl.BoolVarP(&f.detach, "detach", "d", false, "leave the lab running in the background until `nslab down`")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up (and remove what was made) when the lab is not up by then")
	fl.StringVar(&f.runtime, "runtime", lab.RuntimeHostd, "the daemon of the docker hosts: hostd (nslab's own) or dockerd (a real dockerd 20.10 per host, Debian's docker.io)")
	fl.StringVar(&f.images, "images", "", "a `docker save` archive every docker host starts with, beside the default alpine:latest and busybox:latest (images are never pulled)")
	fl.BoolVar(&f.onDemand, "on-demand", false, "start a docker host's daemon at its first use (a docker command, `nslab exec` or `nslab shell` in the host) instead of at up, unless up gives it containers or a cluster store; such a lab cannot be reset")
	fl.BoolVar(&f.keeper, keeperFlag, false, "run as the background keeper of a detached lab (internal)")
	fl.MarkHidden(keeperFlag)
	return cmd
}

// up validates everything it is given before the first side effect.
func (a *app) up(file string, f upFlags) error {
	if f.id != "" && !idRE.MatchString(f.id) {
		return usageError(fmt.Errorf("--id %q: a lab id matches ^[a-z][a-z0-9]{2,9}$", f.id))
	}
	if f.onDemand && f.runtime == lab.RuntimeDockerd {
		return usageError(fmt.Errorf("--on-demand: hostd's only; --runtime %s starts every daemon at up", f.runtime))
	}
	switch f.runtime {
	case lab.RuntimeHostd:
	case lab.RuntimeDockerd:
		if _, err := lab.FindDockerd(""); err != nil {
			return err
		}
	default:
		return usageError(fmt.Errorf("--runtime %q: want %s or %s", f.runtime, lab.RuntimeHostd, lab.RuntimeDockerd))
	}
	if f.images != "" {
		abs, err := filepath.Abs(f.images)
		if err != nil {
			return usageError(fmt.Errorf("--images: %w", err))
		}
		if err := lab.CheckArchive(abs); err != nil {
			return usageError(fmt.Errorf("--images %s: want a `docker save` archive (%v)", f.images, err))
		}
		f.images = abs // the keeper runs in /
	}
	t, err := lab.LoadTopology(file)
	if err != nil {
		return usageError(err)
	}
	if err := a.checkFree(f.id); err != nil {
		return err
	}
	switch {
	case f.keeper:
		return a.keep(t, f)
	case f.detach:
		return a.detach(file, f)
	}
	return a.foreground(t, f)
}

// checkFree says early, and better than the lab's own refusal would, when
// the id names a lab that exists; lab.Up still has the last word.
func (a *app) checkFree(id string) error {
	if id == "" {
		return nil
	}
	labs, err := lab.List(a.root)
	if err != nil {
		return err
	}
	for _, s := range labs {
		if s.ID != id {
			continue
		}
		owner := "its owner is gone: `nslab gc` removes it"
		if s.Alive {
			owner = fmt.Sprintf("owner pid %d; `nslab --lab %s down` takes it down", s.Owner, id)
		}
		return fmt.Errorf("lab %s exists already (%s)", id, owner)
	}
	return nil
}

// options are the lab options of this command line. The binary is this
// one: the lab finds the nslab-hostd (and nslab-etcd) built with it next
// to it, unless $NSLAB_HOSTD_BIN ($NSLAB_ETCD_BIN) names another.
func (a *app) options(f upFlags) (lab.Options, error) {
	self, err := os.Executable()
	if err != nil {
		return lab.Options{}, fmt.Errorf("cannot find the nslab binary, next to which nslab-hostd is: %w", err)
	}
	// Resettable: `nslab reset` puts the lab back to how up leaves it.
	// A lab whose daemons start on demand has no state to reset to.
	o := lab.Options{ID: f.id, Root: a.root, Binary: self, Runtime: f.runtime, Resettable: !f.onDemand, OnDemand: f.onDemand}
	if f.images != "" {
		o.Images = []string{f.images}
	}
	return o, nil
}

// foreground builds the lab, shows how to use it, and takes it down when
// the user interrupts or the terminal goes away.
func (a *app) foreground(t *lab.Topology, f upFlags) error {
	o, err := a.options(f)
	if err != nil {
		return err
	}
	o.Progress = a.stderr
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	upCtx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	l, err := lab.Up(upCtx, t, o)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; nothing is left of the lab: %w", err)
		}
		return err
	}
	printSummary(a.stdout, a.root, l, false)
	why := waitLab(ctx, l)
	fmt.Fprintf(a.stderr, "lab %s: %s; taking it down\n", l.ID(), why)
	return down(l)
}

// waitLab waits until ctx ends (a signal) or the lab's state directory is
// gone (someone ran `nslab down --force` or `gc` under us), and says which.
func waitLab(ctx context.Context, l *lab.Lab) string {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return "signal received"
		case <-tick.C:
			if _, err := os.Stat(l.StateDir()); errors.Is(err, os.ErrNotExist) {
				return "its state directory was removed"
			}
		}
	}
}

// down takes l down with a fresh deadline: the command's context is
// usually the one a signal just ended.
func down(l *lab.Lab) error {
	ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
	defer cancel()
	if err := l.Down(ctx); err != nil {
		return fmt.Errorf("lab %s: down: %w", l.ID(), err)
	}
	return nil
}
