package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/lab"
)

// ownerGrace is how long `nslab down` lets the owning `nslab up` take its
// lab down before it is killed and the lab removed from here.
const ownerGrace = downTimeout

func newDownCmd(a *app) *cobra.Command {
	var all, force bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Take a lab down: its daemons, containers, namespaces and state",
		Long: `Take a lab down: its daemons, containers, namespaces and state. When the lab
is owned by a running ` + "`nslab up`" + ` (a detached keeper or a foreground one), that
process is asked to take it down (SIGTERM) and waited for; then down makes sure
nothing is left. A lab owned by any other process (a test using package lab)
is refused unless --force.`,
		Example: `  nslab down
  nslab --lab class down
  nslab down --all`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ids, err := a.downTargets(all)
			if err != nil {
				return err
			}
			var errs []error
			for _, id := range ids {
				if err := a.downLab(id, force); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(a.stdout, "%s\n", id)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "take every lab under the state root down")
	cmd.Flags().BoolVar(&force, "force", false, "take the lab down even when a process other than `nslab up` owns it")
	return cmd
}

func (a *app) downTargets(all bool) ([]string, error) {
	if !all {
		id, err := a.selectLab()
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	}
	labs, err := lab.List(a.root)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(labs))
	for i, s := range labs {
		ids[i] = s.ID
	}
	return ids, nil
}

func (a *app) downLab(id string, force bool) error {
	l, err := a.open(id)
	if err != nil {
		return err
	}
	if owner, ok := a.liveOwner(id); ok {
		switch {
		case owner.isUp():
			if err := stopOwner(owner, id, a); err != nil {
				return err
			}
		case !force:
			return fmt.Errorf("lab %s is owned by pid %d (%s), which is not `nslab up`: stop it there, or use --force", id, owner.pid, owner.cmdline())
		}
	}
	// Whether or not an owner did it already: Down is repeatable, and it
	// finds what a dead or killed owner left behind.
	return down(l)
}

// liveOwner returns the lab's owner when it still runs (and is not us).
func (a *app) liveOwner(id string) (proc, bool) {
	labs, err := lab.List(a.root)
	if err != nil {
		return proc{}, false
	}
	for _, s := range labs {
		if s.ID == id && s.Alive && s.Owner != os.Getpid() {
			return findProc(s.Owner)
		}
	}
	return proc{}, false
}

// stopOwner asks the owning `nslab up` to take its lab down and waits for
// it to exit; one that does not in time is killed.
func stopOwner(p proc, id string, a *app) error {
	fmt.Fprintf(a.stderr, "lab %s: asking its owner, pid %d, to take it down\n", id, p.pid)
	if err := syscall.Kill(p.pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("lab %s: signal owner %d: %w", id, p.pid, err)
	}
	deadline := time.Now().Add(ownerGrace)
	for p.alive() {
		if time.Now().After(deadline) {
			fmt.Fprintf(a.stderr, "lab %s: owner %d still runs after %s; killing it\n", id, p.pid, ownerGrace)
			syscall.Kill(p.pid, syscall.SIGKILL)
			// Down must not race a dying owner: give the kernel a moment.
			for end := time.Now().Add(5 * time.Second); p.alive() && time.Now().Before(end); {
				time.Sleep(20 * time.Millisecond)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
