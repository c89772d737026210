package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The lab starts programs of its own besides nslab, each a binary of its
// own so that the processes it runs in every virtual host carry only what
// they need: nslab-hostd on every docker host, nslab-etcd on every etcd
// member. make build puts them in bin/, next to nslab; anywhere else the
// lab builds them from its own module (programs_build.go).

// HostdBinaryName is the daemon program the lab looks for next to nslab.
const HostdBinaryName = "nslab-hostd"

// EtcdBinaryName is the member program the lab looks for next to nslab.
const EtcdBinaryName = "nslab-etcd"

// program is one of the lab's programs and how it is named.
type program struct {
	name   string // the file name: nslab-hostd
	env    string // the variable that names it: NSLAB_HOSTD_BIN
	option string // the Options field that names it: Options.Hostd
	what   string // what it is: "hostd program"
	need   string // why the lab needs it, the start of the not-found error
}

var (
	hostdProgram = program{HostdBinaryName, "NSLAB_HOSTD_BIN", "Options.Hostd", "hostd program", "docker hosts run hostd, the program"}
	etcdProgram  = program{EtcdBinaryName, "NSLAB_ETCD_BIN", "Options.Etcd", "etcd member program", "the topology has etcd members, which run"}
)

// find returns the program to start: path when given, else $env, else the
// program next to the nslab binary (nslab, else $NSLAB_BIN), next to this
// executable, else on PATH, else built from this nslab module
// (BuildProgram), which it says on notice once per process. The error says
// where it looked.
func (p program) find(path, nslab string, notice io.Writer) (string, error) {
	if path == "" {
		path = os.Getenv(p.env)
	}
	if path != "" {
		if abs, err := filepath.Abs(path); err == nil && isExecutable(abs) {
			return abs, nil
		}
		return "", fmt.Errorf("lab: %s %s: not an executable file", p.what, path)
	}
	cands := p.candidates(nslab)
	for _, c := range cands {
		if abs, err := filepath.Abs(c); err == nil && isExecutable(abs) {
			return abs, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b, err := BuildProgram(ctx, p.name)
	if err != nil {
		return "", fmt.Errorf("lab: %s %s (make build puts it in bin/, next to nslab); not found next to the nslab binary, this executable or on PATH (looked at %s), and building it failed: %w; set %s or %s",
			p.need, p.name, strings.Join(cands, ", "), err, p.option, p.env)
	}
	announce(notice, b)
	return b.Path, nil
}

// candidates are the places find looks at, in order.
func (p program) candidates(nslab string) []string {
	var cands []string
	if nslab == "" {
		nslab = os.Getenv("NSLAB_BIN")
	}
	if nslab != "" {
		cands = append(cands, filepath.Join(filepath.Dir(nslab), p.name))
	}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), p.name))
	}
	if lp, err := exec.LookPath(p.name); err == nil {
		cands = append(cands, lp)
	}
	return cands
}

// FindHostd returns the nslab-hostd to start: path when given, else
// $NSLAB_HOSTD_BIN, else nslab-hostd next to $NSLAB_BIN or this
// executable, else on PATH, else built from this module (saying so on
// stderr). The error says where it looked.
func FindHostd(path string) (string, error) { return hostdProgram.find(path, "", os.Stderr) }
