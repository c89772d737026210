package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Open vSwitch in a virtual host (HostSpec.OVS): Debian's openvswitch-switch
// run the way its ovs-ctl runs it, but by the lab, inside the host's
// namespaces, and never through systemd or in the machine's namespaces.
// Its database and run directory are the host's own /run/openvswitch
// (conf.db, db.sock, the pid files and control sockets that ovs-vsctl and
// ovs-appctl find there by default); its logs are ovsdb-server.log and
// ovs-vswitchd.log beside the host's other daemons' logs. Both processes
// live in the host's namespaces, so the lab's teardown stops them with
// everything else there, and the database goes with the host's /run.
//
// This kernel has no openvswitch module: bridges need the userspace
// datapath (datapath_type=netdev), where ovs-vswitchd itself switches
// frames and encapsulates tunnels (OVS's "userspace tunneling" howto).

// ovsRunDir is Open vSwitch's run directory inside a host, its default.
const ovsRunDir = "/var/run/openvswitch"

// ovsTimeout bounds how long Open vSwitch may take to answer in a host.
const ovsTimeout = 20 * time.Second

// ovsPrograms are the programs of Debian's openvswitch-switch and
// openvswitch-common that the lab runs, and the database schema.
type ovsPrograms struct {
	dbServer, vswitchd, dbTool, vsctl, schema string
}

// ovsSchemas are where packagings install the Open_vSwitch schema.
var ovsSchemas = []string{"/usr/share/openvswitch/vswitch.ovsschema", "/usr/local/share/openvswitch/vswitch.ovsschema"}

// FindOVS finds Open vSwitch's programs and schema, or says what is
// missing and how to install it.
func FindOVS() (ovsPrograms, error) {
	var p ovsPrograms
	var missing []string
	look := func(dst *string, name string) {
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"} {
			if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() {
				*dst = filepath.Join(dir, name)
				return
			}
		}
		missing = append(missing, name)
	}
	look(&p.dbServer, "ovsdb-server")
	look(&p.vswitchd, "ovs-vswitchd")
	look(&p.dbTool, "ovsdb-tool")
	look(&p.vsctl, "ovs-vsctl")
	for _, s := range ovsSchemas {
		if _, err := os.Stat(s); err == nil {
			p.schema = s
			break
		}
	}
	if p.schema == "" {
		missing = append(missing, "vswitch.ovsschema")
	}
	if len(missing) > 0 {
		return p, fmt.Errorf("lab: Open vSwitch is not installed (missing %s; Debian: apt-get install openvswitch-switch, with service starts forbidden as for docker.io)", strings.Join(missing, ", "))
	}
	return p, nil
}

// hasOVS reports whether some host of t runs Open vSwitch.
func (t *Topology) hasOVS() bool {
	for _, h := range t.Hosts {
		if h.OVS {
			return true
		}
	}
	return false
}

func (h *Host) ovsLog(daemon string) string { return filepath.Join(h.stateDir(), daemon+".log") }

// startOVSAll starts Open vSwitch on every host that asks for it, all at
// once, and waits until each answers.
func (l *Lab) startOVSAll(ctx context.Context, p ovsPrograms, o Options) error {
	var hosts []*Host
	for _, h := range l.hosts {
		if h.Spec.OVS {
			hosts = append(hosts, h)
		}
	}
	pr := newProgress(o.Progress, "openvswitch", len(hosts))
	return forEach(ctx, hosts, o.Parallel, func(ctx context.Context, h *Host) error {
		if err := h.startOVS(ctx, p); err != nil {
			return fmt.Errorf("host %s: openvswitch: %w", h.Name, err)
		}
		pr.done()
		return nil
	})
}

// startOVS makes the host's database and starts ovsdb-server and then
// ovs-vswitchd, as ovs-ctl start does.
func (h *Host) startOVS(ctx context.Context, p ovsPrograms) error {
	ctx, cancel := context.WithTimeout(ctx, ovsTimeout)
	defer cancel()
	db := ovsRunDir + "/conf.db"
	if err := h.ovsRun(ctx, "mkdir", "-p", ovsRunDir); err != nil {
		return err
	}
	if err := h.ovsRun(ctx, p.dbTool, "create", db, p.schema); err != nil {
		return err
	}
	err := h.startDaemon("ovsdb-server", p.dbServer, db,
		"--remote=punix:"+ovsRunDir+"/db.sock",
		"--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
		"--pidfile="+ovsRunDir+"/ovsdb-server.pid")
	if err != nil {
		return err
	}
	// The root record; --no-wait: no ovs-vswitchd runs yet to wait for.
	if err := h.ovsRetry(ctx, p.vsctl, "--timeout=2", "--no-wait", "init"); err != nil {
		return err
	}
	err = h.startDaemon("ovs-vswitchd", p.vswitchd, "unix:"+ovsRunDir+"/db.sock",
		"--pidfile="+ovsRunDir+"/ovs-vswitchd.pid")
	if err != nil {
		return err
	}
	// Without --no-wait, ovs-vsctl returns once ovs-vswitchd has applied
	// the database: the switch is ready for the student's add-br.
	return h.ovsRetry(ctx, p.vsctl, "--timeout=5", "init")
}

// startDaemon starts one of Open vSwitch's daemons in the host, logging to
// <state dir>/<daemon>.log, in a session of its own.
func (h *Host) startDaemon(daemon, bin string, args ...string) error {
	log := h.ovsLog(daemon)
	logf, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args = append(args, "--log-file="+log, "-vconsole:off", "--no-chdir")
	cmd := exec.Command(bin, args...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	// What it prints before its log is open (a failed start) lands in the
	// log too.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := h.Namespaces().Start(cmd); err != nil {
		return fmt.Errorf("start %s: %w", daemon, err)
	}
	go cmd.Wait()
	return nil
}

// ovsRun runs one command in the host; it must succeed.
func (h *Host) ovsRun(ctx context.Context, argv ...string) error {
	r, err := h.Exec(ctx, argv...)
	if err != nil {
		return err
	}
	if r.ExitCode != 0 {
		return fmt.Errorf("%s: exit status %d: %s", strings.Join(argv, " "), r.ExitCode, strings.TrimSpace(r.Stderr+r.Stdout))
	}
	return nil
}

// ovsRetry runs a command in the host until it succeeds or ctx ends; the
// error then quotes the command and the ends of both daemons' logs.
func (h *Host) ovsRetry(ctx context.Context, argv ...string) error {
	var last error
	for {
		if last = h.ovsRun(ctx, argv...); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(last, fmt.Errorf("last lines of %s:\n%s\nlast lines of %s:\n%s",
				h.ovsLog("ovsdb-server"), Tail(h.ovsLog("ovsdb-server"), 10),
				h.ovsLog("ovs-vswitchd"), Tail(h.ovsLog("ovs-vswitchd"), 10)))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
