package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/probe"
)

// The lab runs the topology's etcd members (HostSpec.Etcd) as processes of
// cmd/nslab-etcd, one inside each member's host, before the daemons start:
// dockerd with --cluster-store (and hostd with its cluster store) expect
// the store to answer. A member is a binary of its own rather than part of
// hostd or of nslab: linking the etcd server costs every process of a
// binary about 20 MB of resident memory.

const (
	// etcdTimeout bounds how long a cluster may take to form.
	etcdTimeout = 30 * time.Second
	// etcdGrace is how long a member gets after SIGTERM to close before
	// it is killed. Alone it closes in about a second (its peer listener
	// waits one); with clients watching (every hostd or dockerd pointed
	// at it) etcd 3.5 waits for their streams up to its request timeout,
	// 5 s plus two election timeouts, per client listener. A kill is what
	// etcd is built to survive (its WAL is synced), and losing a member is
	// about the member gone, not its clients told.
	etcdGrace = 2 * time.Second
)

// hasEtcd reports whether some host of t is an etcd member.
func (t *Topology) hasEtcd() bool {
	for _, h := range t.Hosts {
		if h.Etcd != nil {
			return true
		}
	}
	return false
}

// etcdHosts lists the hosts that run an etcd member, in topology order.
func (l *Lab) etcdHosts() []*Host {
	var out []*Host
	for _, h := range l.hosts {
		if h.Spec.Etcd != nil {
			out = append(out, h)
		}
	}
	return out
}

// etcdMember is one member process started by this process.
type etcdMember struct {
	pid    int
	ready  chan string   // the ready line, or closed without one
	exited chan struct{} // closed when the process has been waited for
}

func (h *Host) etcdDir() string     { return filepath.Join(h.lab.dir, h.Name, "etcd") }
func (h *Host) etcdLog() string     { return filepath.Join(h.etcdDir(), "etcd.log") }
func (h *Host) etcdPIDFile() string { return filepath.Join(h.etcdDir(), "etcd.pid") }

// etcdArgs is the member's command line: etcd's own flags (--name,
// --listen-peer-urls, --initial-cluster...), in the names of cmd/nslab-etcd.
func (h *Host) etcdArgs() []string {
	m := h.Spec.Etcd
	var cluster []string
	for _, o := range h.lab.topo.Hosts {
		if o.Etcd != nil {
			cluster = append(cluster, o.Etcd.Name+"="+o.Etcd.Address.String())
		}
	}
	sort.Strings(cluster)
	a := []string{
		"-name", m.Name,
		"-data-dir", filepath.Join(h.etcdDir(), "data"),
		"-advertise", m.Address.String(),
		"-cluster", strings.Join(cluster, ","),
		"-client-port", strconv.Itoa(EtcdClientPort),
		"-peer-port", strconv.Itoa(EtcdPeerPort),
		"-loopback",
		// Real Docker 20.10's --cluster-store speaks the v2 API only.
		"-v2",
		"-log", h.etcdLog(),
		"-ready-fd", "3",
	}
	if s := h.lab.topo.Etcd; s != nil {
		if s.Token != "" {
			a = append(a, "-token", s.Token)
		}
		if s.TickMs != 0 {
			a = append(a, "-tick", strconv.FormatUint(uint64(s.TickMs), 10))
		}
		if s.ElectionMs != 0 {
			a = append(a, "-election", strconv.FormatUint(uint64(s.ElectionMs), 10))
		}
	}
	return a
}

// startEtcd starts the host's member inside its network namespace, in a
// session of its own, and records its pid. It does not wait for the
// cluster: a member is ready only once a quorum of its peers runs.
func (h *Host) startEtcd(bin string) (*etcdMember, error) {
	if err := os.MkdirAll(h.etcdDir(), 0o755); err != nil {
		return nil, fmt.Errorf("host %s: etcd: %w", h.Name, err)
	}
	logf, err := os.OpenFile(h.etcdLog(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("host %s: etcd: %w", h.Name, err)
	}
	defer logf.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("host %s: etcd: %w", h.Name, err)
	}
	cmd := exec.Command(bin, h.etcdArgs()...)
	cmd.Dir = "/"
	// Nothing of the caller's environment (proxies) reaches the member.
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{readyW} // fd 3
	// Like hostd: in the host's namespaces, no Pdeathsig (the forking
	// thread dies at once), and a session of its own so that a terminal's
	// signals do not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = h.Namespaces().Start(cmd)
	readyW.Close()
	if err != nil {
		readyR.Close()
		return nil, fmt.Errorf("host %s: start etcd member %s: %w", h.Name, h.Spec.Etcd.Name, err)
	}
	m := &etcdMember{pid: cmd.Process.Pid, ready: make(chan string, 1), exited: make(chan struct{})}
	go func() {
		line, _ := bufio.NewReader(readyR).ReadString('\n')
		readyR.Close()
		if line != "" {
			m.ready <- strings.TrimSpace(line)
		}
		close(m.ready)
	}()
	go func() {
		cmd.Wait()
		close(m.exited)
	}()
	start, _ := procStart(m.pid)
	if err := writeEtcdPID(h.etcdPIDFile(), m.pid, start); err != nil {
		syscall.Kill(m.pid, syscall.SIGKILL)
		<-m.exited
		return nil, fmt.Errorf("host %s: etcd: %w", h.Name, err)
	}
	h.lab.mu.Lock()
	h.etcd = m
	h.lab.mu.Unlock()
	return m, nil
}

// waitEtcd waits for the member's ready line; a member that exits first
// or is not ready by the deadline fails with the end of its log.
func (h *Host) waitEtcd(ctx context.Context, m *etcdMember) error {
	ctx, cancel := context.WithTimeout(ctx, etcdTimeout)
	defer cancel()
	select {
	case line, ok := <-m.ready:
		if ok && strings.HasPrefix(line, "ready ") {
			return nil
		}
		<-m.exited
		return fmt.Errorf("host %s: etcd member %s exited before its cluster was ready; last lines of %s:\n%s", h.Name, h.Spec.Etcd.Name, h.etcdLog(), Tail(h.etcdLog(), 20))
	case <-ctx.Done():
		return fmt.Errorf("host %s: etcd member %s: cluster not ready in time (%v); last lines of %s:\n%s", h.Name, h.Spec.Etcd.Name, ctx.Err(), h.etcdLog(), Tail(h.etcdLog(), 20))
	}
}

// startEtcdCluster starts every member at once and waits until each has
// joined the cluster.
func (l *Lab) startEtcdCluster(ctx context.Context, bin string, o Options) error {
	hosts := l.etcdHosts()
	t0 := time.Now()
	members := make(map[*Host]*etcdMember, len(hosts))
	for _, h := range hosts {
		m, err := h.startEtcd(bin)
		if err != nil {
			return err
		}
		members[h] = m
	}
	err := forEach(ctx, hosts, len(hosts), func(ctx context.Context, h *Host) error {
		return h.waitEtcd(ctx, members[h])
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Progress, "etcd: %d members ready in %s\n", len(hosts), time.Since(t0).Round(time.Millisecond))
	return nil
}

func writeEtcdPID(path string, pid int, start uint64) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d\n", pid, start)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// etcdProc returns the host's member process while it runs: the pid file
// names it, and it must have the recorded start time and live in the
// host's network namespace (anything else is a reused pid).
func (h *Host) etcdProc() (proc, bool) {
	b, err := os.ReadFile(h.etcdPIDFile())
	if err != nil {
		return proc{}, false
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscanf(string(b), "%d %d", &pid, &start); err != nil {
		return proc{}, false
	}
	ino, err := netns.Inode(h.NetNS())
	if err != nil {
		return proc{}, false
	}
	p, ok := inside(pid, map[uint64]string{ino: h.NetNS()})
	if !ok || p.start != start {
		return proc{}, false
	}
	return p, true
}

// etcdHost returns the named host and checks that it is an etcd member.
func (l *Lab) etcdHost(name string) (*Host, error) {
	h, err := l.Host(name)
	if err != nil {
		return nil, err
	}
	if h.Spec.Etcd == nil {
		return nil, fmt.Errorf("lab %s: host %s is no etcd member", l.ID(), name)
	}
	return h, nil
}

// StopEtcd stops the etcd member of a running lab's host, as a student
// stops etcd on one machine to take the cluster's quorum away: SIGTERM, then SIGKILL after 2 s (see
// etcdGrace). Its data stays for StartEtcd. Stopping a member that does not
// run is an error.
func (l *Lab) StopEtcd(ctx context.Context, host string) error {
	h, err := l.etcdHost(host)
	if err != nil {
		return err
	}
	p, ok := h.etcdProc()
	if !ok {
		return fmt.Errorf("host %s: etcd member %s is not running", h.Name, h.Spec.Etcd.Name)
	}
	if err := syscall.Kill(p.pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("host %s: stop etcd member %s (pid %d): %w", h.Name, h.Spec.Etcd.Name, p.pid, err)
	}
	if left := waitGone(ctx, []proc{p}, etcdGrace); len(left) > 0 {
		syscall.Kill(p.pid, syscall.SIGKILL)
		if left := waitGone(ctx, left, killGrace); len(left) > 0 {
			return fmt.Errorf("host %s: etcd member %s (pid %d) survived SIGKILL", h.Name, h.Spec.Etcd.Name, p.pid)
		}
	}
	h.lab.mu.Lock()
	m := h.etcd
	h.etcd = nil
	h.lab.mu.Unlock()
	if m != nil {
		<-m.exited // reaped by its Wait
	}
	os.Remove(h.etcdPIDFile())
	return nil
}

// StartEtcd starts the stopped etcd member of a running lab's host again,
// from its data, and waits until it has rejoined its cluster (which needs
// a quorum of the members running). A member that is not ready by the
// deadline is stopped again.
func (l *Lab) StartEtcd(ctx context.Context, host string) error {
	h, err := l.etcdHost(host)
	if err != nil {
		return err
	}
	if p, ok := h.etcdProc(); ok {
		return fmt.Errorf("host %s: etcd member %s runs already (pid %d)", h.Name, h.Spec.Etcd.Name, p.pid)
	}
	bin, err := etcdProgram.find(l.state.EtcdBinary, "", os.Stderr)
	if err != nil {
		return err
	}
	m, err := h.startEtcd(bin)
	if err != nil {
		return err
	}
	if err := h.waitEtcd(ctx, m); err != nil {
		syscall.Kill(m.pid, syscall.SIGKILL)
		<-m.exited
		os.Remove(h.etcdPIDFile())
		return err
	}
	return nil
}

// EtcdStatus is what `nslab etcd HOST status` shows of one member.
type EtcdStatus struct {
	Host    string `json:"host"`
	Member  string `json:"member"`
	PID     int    `json:"pid,omitempty"` // 0: not running
	Client  string `json:"client"`        // http://ADDR:2379
	Peer    string `json:"peer"`          // http://ADDR:2380
	Healthy bool   `json:"healthy"`
	// Health is the member's own /health answer, or why there is none.
	Health string `json:"health"`
}

// EtcdStatus says whether the host's member runs and what its /health
// endpoint answers, asked from inside the host over its underlay address.
func (l *Lab) EtcdStatus(ctx context.Context, host string) (EtcdStatus, error) {
	h, err := l.etcdHost(host)
	if err != nil {
		return EtcdStatus{}, err
	}
	a := h.Spec.Etcd.Address
	s := EtcdStatus{
		Host: h.Name, Member: h.Spec.Etcd.Name,
		Client: "http://" + netip.AddrPortFrom(a, EtcdClientPort).String(),
		Peer:   "http://" + netip.AddrPortFrom(a, EtcdPeerPort).String(),
	}
	p, ok := h.etcdProc()
	if !ok {
		s.Health = "not running"
		return s, nil
	}
	s.PID = p.pid
	s.Healthy, s.Health = etcdHealth(ctx, h.NetNS(), netip.AddrPortFrom(a, EtcdClientPort))
	return s, nil
}

// etcdHealth asks GET /health of the member at addr from inside ns. etcd
// answers {"health":"true"} only while the cluster has a leader and the
// member can serve a quorum read.
func etcdHealth(ctx context.Context, ns string, addr netip.AddrPort) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			return probe.DialContext(ctx, ns, network, address)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr.String()+"/health", nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var v struct{ Health, Reason string }
	if err := json.Unmarshal(b, &v); err != nil {
		return false, fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if v.Health == "true" {
		return true, "healthy"
	}
	if v.Reason != "" {
		return false, "unhealthy: " + v.Reason
	}
	return false, "unhealthy"
}

// EtcdMembers lists the hosts that run an etcd member.
func (l *Lab) EtcdMembers() []string {
	var out []string
	for _, h := range l.etcdHosts() {
		out = append(out, h.Name)
	}
	return out
}
