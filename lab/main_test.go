package lab

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/image/imagetest"
	"github.com/nslab/nslab/hostdconfig"
	"github.com/nslab/nslab/internal/rootns"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// fakeHostdEnv makes the test binary act as hostd when the lab starts it:
// the real one lives in another package, and these tests check the lab's
// side of the contract (config, namespaces, socket, pid file, Engine API
// calls, SIGTERM), not the daemon.
const fakeHostdEnv = "NSLAB_LAB_TEST_FAKE_HOSTD"

func TestMain(m *testing.M) {
	// The lab starts it as nslab-hostd: `BIN --config FILE`.
	if os.Getenv(fakeHostdEnv) != "" && len(os.Args) > 1 && os.Args[1] == "--config" {
		os.Exit(fakeHostd(os.Args[1:]))
	}
	if os.Getenv(visitorEnv) != "" {
		os.Exit(visitor())
	}
	flag.Parse()
	// The tests' labs keep their images in a store of their own, not the
	// machine's.
	code := imagetest.Run(m)
	removeTestPrograms()
	os.Exit(code)
}

// fakeHostd keeps the contract of COMMON.md: hostname = Config.Host, pid
// file, /_ping on Config.Socket, "ready" on --ready-fd once it listens,
// exit 0 on SIGTERM. It records every
// Engine API request it gets in <root>/requests.jsonl.
func fakeHostd(args []string) int {
	fs := flag.NewFlagSet("hostd", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "")
	readyFD := fs.Int("ready-fd", -1, "")
	fs.Int("pins-mntns-fd", -1, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := hostdconfig.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if mode := os.Getenv(fakeHostdEnv); mode == "crash" {
		fmt.Fprintln(os.Stderr, "fake hostd: crashing as asked")
		return 3
	}
	if err := unix.Sethostname([]byte(cfg.Host)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(cfg.Root, "hostd.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return 1
	}
	ln, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	log, err := os.OpenFile(filepath.Join(cfg.Root, "requests.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 1
	}
	record := func(r *http.Request) map[string]any {
		body, _ := io.ReadAll(r.Body)
		var in map[string]any
		json.Unmarshal(body, &in)
		line, _ := json.Marshal(map[string]any{"method": r.Method, "uri": r.URL.RequestURI(), "body": in})
		mu.Lock()
		log.Write(append(line, '\n'))
		mu.Unlock()
		return in
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") })
	mux.HandleFunc("POST /v1.41/containers/create", func(w http.ResponseWriter, r *http.Request) {
		in := record(r)
		w.Header().Set("Content-Type", "application/json")
		if in["Image"] == "missing" {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"No such image: missing:latest"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"Id":"id-%s","Warnings":[]}`, r.URL.Query().Get("name"))
	})
	mux.HandleFunc("POST /v1.41/containers/{id}/start", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.WriteHeader(http.StatusNoContent)
	})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go http.Serve(ln, mux)
	if *readyFD >= 0 {
		ready := os.NewFile(uintptr(*readyFD), "ready")
		ready.WriteString("ready\n")
		ready.Close()
	}
	<-sigs
	ln.Close()
	return 0
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

// plainTopology is n plain hosts h1..hn on one segment lan0, hi at
// 10.99.<i/250>.<i%250+1>/16.
func plainTopology(n int) *Topology {
	t := &Topology{
		Name:     fmt.Sprintf("plain%d", n),
		Segments: []Segment{{Name: "lan0", Prefix: netip.MustParsePrefix("10.99.0.0/16")}},
	}
	for i := 1; i <= n; i++ {
		t.Hosts = append(t.Hosts, HostSpec{
			Name: fmt.Sprintf("h%d", i),
			Kind: KindPlain,
			Interfaces: []InterfaceSpec{{
				Segment: "lan0",
				Address: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, byte(i / 250), byte(i%250 + 1)}), 16),
			}},
		})
	}
	return t
}

// rootSections are the parts of a root namespace snapshot a lab could
// change by mistake and no other test on the machine changes on purpose.
var rootSections = []string{"links", "addresses", "routes", "rules", "sysctl"}

func rootSnapshot(t testing.TB) rootns.Snapshot {
	t.Helper()
	s, err := rootns.Take()
	if err != nil {
		t.Fatal(err)
	}
	out := rootns.Snapshot{}
	for _, k := range rootSections {
		out[k] = s[k]
	}
	return out
}

func requireRootUnchanged(t testing.TB, before rootns.Snapshot) {
	t.Helper()
	if d := rootns.Diff(before, rootSnapshot(t)); len(d) > 0 {
		t.Fatalf("the root network namespace changed:\n%s", strings.Join(d, "\n"))
	}
}

// requireGone checks that nothing of lab id is left: no pin, no mount, no
// state directory.
func requireGone(t testing.TB, id, dir string) {
	t.Helper()
	if pins, _ := labPins(id); len(pins) > 0 {
		t.Errorf("pins left: %v", pins)
	}
	data := dataDir(DefaultDataRoot, id)
	m := append(mountsUnder(t, netns.Path(id+"-")), mountsUnder(t, dir+"/")...)
	m = append(m, mountsUnder(t, data+"/")...)
	if slices.Contains(mountsUnder(t, data), data) {
		m = append(m, data)
	}
	if len(m) > 0 {
		t.Errorf("mounts left for %s: %v", id, m)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir %s left (%v)", dir, err)
	}
	if _, err := os.Stat(dataDir(DefaultDataRoot, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir %s left (%v)", dataDir(DefaultDataRoot, id), err)
	}
}

// mountsUnder lists the mount points of the test's mount table that start
// with prefix.
func mountsUnder(t testing.TB, prefix string) []string {
	t.Helper()
	ms, err := kernel.Mounts()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if strings.HasPrefix(m.Point, prefix) {
			out = append(out, m.Point)
		}
	}
	return out
}
