package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The lab starts programs of its own besides nslab, each a binary of its
// own so that the processes it runs in every virtual host carry only what
// they need: nslab-hostd on every docker host, nslab-etcd on every etcd
// member. make build puts them in bin/, next to nslab.

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
// executable, else on PATH. The error says where it looked.
func (p program) find(path, nslab string) (string, error) {
	if path == "" {
		path = os.Getenv(p.env)
	}
	var cands []string
	if path != "" {
		cands = []string{path}
	} else {
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
	}
	for _, c := range cands {
		abs, err := filepath.Abs(c)
		if err != nil {
			continue
		}
		if st, err := os.Stat(abs); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return abs, nil
		}
	}
	if path != "" {
		return "", fmt.Errorf("lab: %s %s: not an executable file", p.what, path)
	}
	return "", fmt.Errorf("lab: %s %s (make build puts it in bin/, next to nslab); not found next to the nslab binary, this executable or on PATH (looked at %s); set %s or %s",
		p.need, p.name, strings.Join(cands, ", "), p.option, p.env)
}

// FindHostd returns the nslab-hostd to start: path when given, else
// $NSLAB_HOSTD_BIN, else nslab-hostd next to $NSLAB_BIN or this
// executable, else on PATH. The error says where it looked.
func FindHostd(path string) (string, error) { return hostdProgram.find(path, "") }
