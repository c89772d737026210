package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nslab/nslab/lab"
)

// app holds what every command shares: the global flags and where output
// goes (a buffer in tests).
type app struct {
	root   string // --root: the state root
	labID  string // --lab, or $NSLAB_LAB
	stdout io.Writer
	stderr io.Writer
}

// exitError ends the program with code. A nil err means the failure was
// already reported (by a child process, or on stderr) and only the status
// is left to pass on.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad input (arguments, flags, a topology file): exit
// status 2, as for any command line tool, and nothing was changed.
func usageError(err error) error { return &exitError{code: 2, err: err} }

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	cmd := newRootCmd(a)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "nslab: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "nslab: %v\n", err)
	return 1
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "nslab",
		Short: "Labs of virtual Docker hosts made of network namespaces",
		Long: `nslab builds labs of virtual hosts: each host is a Linux network namespace,
joined to the others by veth legs into L2 segments, and each docker host runs
hostd, a daemon that answers the Docker Engine API (1.41, as Docker 20.10), so
the real docker CLI works against it. Nothing is made in the machine's own
network namespace.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Only the leaves do something. `nslab` alone prints help and
		// exits 0 (as docker and kubectl do); a first word that is no
		// command is refused.
		Args: unknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		// Suggest commands within two edits (a swap of two letters is two).
		SuggestionsMinimumDistance: 2,
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(flagError)
	root.SetHelpCommand(newHelpCmd())
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&a.root, "root", lab.DefaultRoot, "state root holding one directory per lab")
	pf.StringVar(&a.labID, "lab", os.Getenv("NSLAB_LAB"), "lab id (default $NSLAB_LAB, or the only lab there is)")

	root.AddCommand(
		newUpCmd(a),
		newDownCmd(a),
		newResetCmd(a),
		newLsCmd(a),
		newInspectCmd(a),
		newExecCmd(a),
		newShellCmd(a),
		newDockerCmd(a),
		newGRECmd(a),
		newEtcdCmd(a),
		newCaptureCmd(a),
		newLinkCmd(a),
		newCheckCmd(a),
		newGraphCmd(a),
		newGCCmd(a),
		newImagesCmd(a),
		newParityCmd(a),
		newVersionCmd(a),
	)
	return root
}

// args wraps a cobra argument check so that a wrong count is a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError(fmt.Errorf("%w (usage: %s)", err, cmd.UseLine()))
		}
		return nil
	}
}

// selectLab returns the lab the command is about: --lab or $NSLAB_LAB
// when given, else the only lab under the state root.
func (a *app) selectLab() (string, error) {
	if a.labID != "" {
		return a.labID, nil
	}
	labs, err := lab.List(a.root)
	if err != nil {
		return "", err
	}
	switch len(labs) {
	case 0:
		return "", fmt.Errorf("no lab under %s: start one with `nslab up FILE`", a.root)
	case 1:
		return labs[0].ID, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d labs under %s; choose one with --lab ID or NSLAB_LAB=ID:", len(labs), a.root)
	for _, s := range labs {
		fmt.Fprintf(&b, "\n  %s", s.ID)
		if s.Name != "" {
			fmt.Fprintf(&b, " (%s)", s.Name)
		}
	}
	return "", errors.New(b.String())
}

// openLab opens the selected lab.
func (a *app) openLab() (*lab.Lab, error) {
	id, err := a.selectLab()
	if err != nil {
		return nil, err
	}
	return a.open(id)
}

// openHost returns the named host of the selected lab.
func (a *app) openHost(name string) (*lab.Host, error) {
	l, err := a.openLab()
	if err != nil {
		return nil, err
	}
	return l.Host(name)
}

func (a *app) open(id string) (*lab.Lab, error) {
	l, err := lab.Open(a.root, id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no lab %q under %s (`nslab ls` lists the labs)", id, a.root)
	}
	return l, err
}
