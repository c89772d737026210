package check

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/probe"
)

// Every problem of a file is reported with its line and field, and nothing
// of a bad file runs.
func TestParseProblems(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"empty", "", "x.yaml:1: empty file: a checks file needs a list of checks"},
		{"no checks", "exercise: E02\n", "x.yaml:1: checks: required"},
		{"unknown top field", "checkz: []\n", "x.yaml:1: checkz: unknown field (known: checks, deadline, exercise, interval, silence, topology)"},
		{"no kind", "checks:\n  - name: x\n", "x.yaml:2: checks[0]: no kind of check: give one of dns, etcd, etchosts, fdb"},
		{"two kinds", "checks:\n  - ping: {from: h1, to: h2}\n    tcp: {from: h1, to: h2, port: 80}\n", "x.yaml:3: checks[0].tcp: a check is of one kind; this one is already ping"},
		{"unknown kind field", "checks:\n  - ping: {from: h1, to: h2, port: 80}\n", "x.yaml:2: checks[0].ping.port: unknown field (known: both, from, to)"},
		{"missing field", "checks:\n  - tcp: {from: h1, to: h2}\n", "x.yaml:2: checks[0].tcp.port: required"},
		{"bad endpoint", "checks:\n  - ping:\n      from: /cm01\n      to: h2\n", `x.yaml:3: checks[0].ping.from: "/cm01": want HOST, HOST/CONTAINER, netns:HOST/NAME or netns:{lab}-NAME`},
		{"foreign netns", "checks:\n  - ping: {from: 'netns:test1', to: h2}\n", `x.yaml:2: checks[0].ping.from: "netns:test1": a pinned namespace is netns:HOST/NAME (in the host's /var/run/netns) or netns:{lab}-NAME`},
		{"netns of no host", "checks:\n  - ping: {from: 'netns:/test1', to: h2}\n", `x.yaml:2: checks[0].ping.from: "netns:/test1": a pinned namespace is netns:HOST/NAME`},
		{"both from an address", "checks:\n  - ping:\n      from: h1\n      to: 10.0.0.1\n      both: true\n", "x.yaml:5: checks[0].ping.both: both: the way back starts at 10.0.0.1, an address"},
		{"bad expect", "checks:\n  - route: {at: h1, to: default}\n    expect: unreachable\n", `x.yaml:3: checks[0].expect: "unreachable": a route check expects present or absent`},
		{"bad deadline", "checks:\n  - ping: {from: h1, to: h2}\n    deadline: soon\n", `x.yaml:3: checks[0].deadline: "soon" is not a positive duration such as 5s`},
		{"bad port", "checks:\n  - tcp: {from: h1, to: h2, port: 70000}\n", `x.yaml:2: checks[0].tcp.port: "70000" is not a port from 1 to 65535`},
		{"bad iptables", "checks:\n  - firewall: {at: h1, iptables: POSTROUTING -j MASQUERADE}\n", "x.yaml:2: checks[0].firewall.iptables: want TABLE CHAIN RULE..."},
		{"firewall of a container", "checks:\n  - firewall: {at: h1/c1, iptables: nat POSTROUTING -j MASQUERADE}\n", "x.yaml:2: checks[0].firewall.at: h1/c1: name a host"},
		{"unclosed quote", "checks:\n  - firewall: {at: h1, iptables: 'filter INPUT -m comment --comment \"x -j DROP'}\n", "a quote is not closed"},
		{"route not a prefix", "checks:\n  - route: {at: h1, to: 10.0.0.1/8}\n", `x.yaml:2: checks[0].route.to: "10.0.0.1/8": want default or a network prefix`},
		{"duplicate name", "checks:\n  - name: a\n    ping: {from: h1, to: h2}\n  - name: a\n    ping: {from: h2, to: h1}\n", `x.yaml:4: checks[1].name: duplicate check name "a" (also line 2)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("x.yaml", []byte(c.yaml))
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("parsed %+v, %v; want a *FileError", f, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error\n%s\ndoes not hold\n%s", err, c.want)
			}
		})
	}
}

func TestParseChecks(t *testing.T) {
	f, err := Parse("x.yaml", []byte(`
exercise: E02
deadline: 3s
silence: 1s
checks:
  - ping: {from: host1/cm01, to: host1/cm02, both: true}
  - name: no way out
    ping: {from: host1/cm01, to: 203.0.113.1}
    expect: unreachable
  - firewall: {at: host1, iptables: 'nat POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'}
  - firewall: {at: host2, nft: 'ip docker-nat POSTROUTING ip saddr 172.17.0.0/16 oifname != "docker0" counter packets 3 bytes 180 masquerade'}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.Checks {
		got = append(got, fmt.Sprintf("%d %s %s %v %s", c.Line, c.Kind, c.Name, c.Negate, c.Deadline))
	}
	want := []string{
		"6 ping ping host1/cm01 → host1/cm02 false 3s",
		"6 ping ping host1/cm02 → host1/cm01 false 3s",
		"7 ping no way out true 1s",
		"10 firewall rule -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE on host1 false 3s",
		`11 firewall rule ip docker-nat POSTROUTING: ip saddr 172.17.0.0/16 oifname != "docker0" masquerade on host2 false 3s`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds labs of network namespaces")
	}
}

// upLab brings up the lab of topo (YAML) for t; it goes when t ends.
func upLab(t *testing.T, topo string) *lab.Lab {
	t.Helper()
	return labtest.Up(t, []byte(topo), labtest.WithOptions(lab.Options{Root: t.TempDir()})).Lab
}

func run(t *testing.T, l *lab.Lab, file string) *Report {
	t.Helper()
	return runWith(t, l, file, Options{})
}

func runWith(t *testing.T, l *lab.Lab, file string, o Options) *Report {
	t.Helper()
	f, err := Parse("checks.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Run(context.Background(), l, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func results(r *Report) map[string]Result {
	m := map[string]Result{}
	for _, res := range r.Results {
		m[res.Name] = res
	}
	return m
}

const plainLab = `
segments:
  - name: lan0
    prefix: 10.88.0.0/24
hosts:
  - name: h1
    kind: plain
    interfaces:
      - segment: lan0
        address: 10.88.0.1/24
    routes:
      - to: 10.50.0.0/16
        via: 10.88.0.2
  - name: h2
    kind: plain
    forwarding: true
    interfaces:
      - segment: lan0
        address: 10.88.0.2/24
`

// Checks of plain hosts: probes, kernel state and iptables, each passing
// and failing with what it saw.
func TestRunPlainHosts(t *testing.T) {
	requireRoot(t)
	l := upLab(t, plainLab)
	h1, _ := l.Host("h1")
	h2, _ := l.Host("h2")
	ctx := context.Background()
	echo, err := probe.ServeTCPEcho(h2.NetNS(), "10.88.0.2:7000")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	web, err := probe.ServeHTTP(h2.NetNS(), "10.88.0.2:8080", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello from h2") }))
	if err != nil {
		t.Fatal(err)
	}
	defer web.Close()
	for _, argv := range [][]string{
		{"iptables", "-w", "-A", "INPUT", "-s", "10.88.0.2/32", "-p", "tcp", "--dport", "9", "-j", "DROP"},
		// A namespace a student makes in h1: h1's own /var/run/netns.
		{"ip", "netns", "add", "student"},
	} {
		if r, err := h1.Exec(ctx, argv...); err != nil || r.ExitCode != 0 {
			t.Fatalf("%v: %v %s", argv, err, r.Stderr)
		}
	}
	// One pinned in the machine's /run/netns, as hostd pins a container's.
	if _, err := netns.NewNamed(l.ID() + "-extra"); err != nil {
		t.Fatal(err)
	}
	defer netns.Delete(l.ID() + "-extra")

	r := run(t, l, `
silence: 1s
deadline: 2s
checks:
  - ping: {from: h1, to: h2, both: true}
  - {name: silent, ping: {from: h1, to: 10.88.0.99}, expect: unreachable}
  - {name: must answer, ping: {from: h1, to: 10.88.0.99}, deadline: 1s}
  - tcp: {from: h1, to: h2, port: 7000}
  - {name: closed port, tcp: {from: h1, to: h2, port: 7001}, expect: unreachable}
  - http: {from: h1, to: h2, port: 8080, body: hello from h2}
  - {name: wrong body, http: {from: h1, to: h2, port: 8080, body: bonjour}, deadline: 1s}
  - route: {at: h1, to: 10.50.0.0/16, via: 10.88.0.2, dev: eth1}
  - {name: no such route, route: {at: h1, to: 10.60.0.0/16}, deadline: 500ms}
  - forwarding: {at: h2}
  - forwarding: {at: h1, enabled: false}
  - interface: {at: h1, name: eth1, address: 10.88.0.1/24, up: true, kind: veth}
  - {name: no eth2, interface: {at: h1, name: eth2}, expect: absent}
  - interface: {at: 'netns:{lab}-extra', name: lo, up: true}
  - interface: {at: 'netns:h1/student', name: lo, up: false}
  - firewall: {at: h1, iptables: 'filter INPUT -s 10.88.0.2/32 -p tcp --dport 9 -j DROP'}
  - {name: no masquerade, firewall: {at: h1, iptables: 'nat POSTROUTING -j MASQUERADE'}, deadline: 500ms}
`)
	res := results(r)
	for name, want := range map[string]bool{
		"ping h1 → h2": true, "ping h2 → h1": true, "silent": true, "must answer": false,
		"tcp h1 → h2 port 7000": true, "closed port": true,
		"http h1 → h2:8080/": true, "wrong body": false,
		"route 10.50.0.0/16 via 10.88.0.2 dev eth1 on h1": true, "no such route": false,
		"forwarding on on h2": true, "forwarding off on h1": true,
		"interface eth1 of h1": true, "no eth2": true, "interface lo of netns:{lab}-extra": true, "interface lo of netns:h1/student": true,
		"rule -t filter -A INPUT -s 10.88.0.2/32 -p tcp --dport 9 -j DROP on h1": true, "no masquerade": false,
	} {
		got, ok := res[name]
		if !ok {
			t.Errorf("no result %q", name)
			continue
		}
		if got.Passed != want {
			t.Errorf("%s: passed %v, want %v (seen %s)", name, got.Passed, want, got.Seen)
		}
	}
	if d := res["silent"].Duration; d < time.Second {
		t.Errorf("a path that must stay closed passed after %s, before its deadline of 1s", d)
	}
	for name, seen := range map[string]string{
		"must answer":   "no reply in 1s",
		"wrong body":    `body "hello from h2\n"`,
		"no such route": "routes: 10.50.0.0/16 via 10.88.0.2 dev eth1, 10.88.0.0/24 dev eth1",
		"no masquerade": "POSTROUTING of nat holds:\n-P POSTROUTING ACCEPT",
	} {
		if !strings.Contains(res[name].Seen, seen) {
			t.Errorf("%s: seen %q, want it to hold %q", name, res[name].Seen, seen)
		}
	}
	if r.Passed != 14 || r.Failed != 4 || r.OK() {
		t.Errorf("passed %d, failed %d", r.Passed, r.Failed)
	}
	checkReports(t, r)
}

// MaxDeadline caps every check's deadline: a check that fails gives up,
// and a path that must stay closed is watched, for that long only; a check
// whose own deadline is shorter keeps it.
func TestRunMaxDeadline(t *testing.T) {
	requireRoot(t)
	l := upLab(t, plainLab)
	file := `
deadline: 5s
silence: 4s
checks:
  - {name: must answer, ping: {from: h1, to: 10.88.0.99}}
  - {name: silent, ping: {from: h1, to: 10.88.0.99}, expect: unreachable}
  - {name: short, ping: {from: h1, to: 10.88.0.98}, deadline: 200ms}
`
	r := runWith(t, l, file, Options{MaxDeadline: 600 * time.Millisecond})
	res := results(r)
	if res["must answer"].Passed || !strings.Contains(res["must answer"].Seen, "no reply in") {
		t.Errorf("must answer: passed %v, seen %q", res["must answer"].Passed, res["must answer"].Seen)
	}
	if !res["silent"].Passed {
		t.Errorf("silent: seen %q", res["silent"].Seen)
	}
	for name, want := range map[string]time.Duration{"must answer": 600 * time.Millisecond, "silent": 600 * time.Millisecond, "short": 200 * time.Millisecond} {
		if d := res[name].Duration; d < want-50*time.Millisecond || d > want+time.Second {
			t.Errorf("%s took %s, want about %s", name, d, want)
		}
	}
}

// The three ways a report is written: the table names each failure's
// expectation and observation, JSON reads back, JUnit is XML with the
// failures counted.
func checkReports(t *testing.T, r *Report) {
	t.Helper()
	var table, js, junit bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FAIL    must answer ", "expected: an echo reply from 10.88.0.99 to pings from h1", "seen:     ping 10.88.0.99 from", "18 checks, 14 passed, 4 failed"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&js)
	if err != nil || len(back.Results) != len(r.Results) || back.Failed != r.Failed || back.Results[0].Endpoints[0] != "h1" || back.Results[0].To != "h2" {
		t.Errorf("JSON round trip: %+v %v", back, err)
	}
	if err := r.WriteJUnit(&junit); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
		} `xml:"testcase"`
	}
	if err := xml.Unmarshal(junit.Bytes(), &s); err != nil || s.Tests != 18 || s.Failures != 4 || len(s.Cases) != 18 {
		t.Errorf("junit: %+v %v\n%s", s, err, junit.String())
	}
}

// A file that names what the lab does not have is refused, with its line,
// before anything runs.
func TestRunRefusesForeignHosts(t *testing.T) {
	requireRoot(t)
	l := upLab(t, plainLab)
	f, err := Parse("checks.yaml", []byte("checks:\n  - ping: {from: h1, to: h2}\n  - ping: {from: node9, to: h2}\n  - ping: {from: h1/cm01, to: h2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Run(context.Background(), l, Options{})
	var fe *FileError
	if !errors.As(err, &fe) || len(fe.Problems) != 2 {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{"checks.yaml:3: ping: \"ping node9 → h2\": lab " + l.ID() + " has no host node9 (its hosts: h1, h2)",
		"checks.yaml:4: ping: \"ping h1/cm01 → h2\": host h1 is of kind plain and has no containers"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %s", err, want)
		}
	}
}

// Checks of a docker host: networks as its daemon reports them, probes
// between containers found through it, a bridge's forwarding table, and
// no embedded DNS on the default bridge.
func TestRunDockerHost(t *testing.T) {
	requireRoot(t)
	if _, err := lab.FindHostd(""); err != nil {
		t.Skipf("needs nslab-hostd (make build, NSLAB_BIN=$PWD/bin/nslab): %v", err)
	}
	l := upLab(t, `
segments:
  - name: lan0
    prefix: 192.168.99.0/24
hosts:
  - name: host1
    interfaces:
      - segment: lan0
        address: 192.168.99.101/24
    containers:
      - name: cm01
        command: [sleep, "1000"]
      - name: cm02
        command: [sleep, "1000"]
`)
	r := run(t, l, `
checks:
  - ping: {from: host1/cm01, to: host1/cm02, both: true}
  - ping: {from: host1, to: host1/cm01}
  - network: {host: host1, name: bridge, driver: bridge, subnet: 172.17.0.0/16, scope: local, containers: [cm01, cm02]}
  - {name: no br1, network: {host: host1, name: br1}, expect: absent}
  - {name: br1, network: {host: host1, name: br1}, deadline: 500ms}
  - interface: {at: host1/cm01, name: eth0, address: 172.17.0.2/16, mac: "02:42:ac:11:00:02"}
  - route: {at: host1/cm02, to: default, via: 172.17.0.1, dev: eth0}
  - fdb: {at: host1, bridge: docker0, mac: "02:42:ac:11:00:03"}
  - {name: no embedded DNS, dns: {from: host1/cm01, name: cm02}, expect: unresolved}
  - firewall: {at: host1, iptables: 'nat POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'}
  - {name: not running, ping: {from: host1/cm09, to: host1/cm01}, deadline: 500ms}
`)
	res := results(r)
	for _, res := range r.Results {
		want := res.Name != "br1" && res.Name != "not running"
		if res.Passed != want {
			t.Errorf("%s: passed %v, want %v (seen %s)", res.Name, res.Passed, want, res.Seen)
		}
	}
	if seen := res["br1"].Seen; seen != "no network br1; host1 has bridge, host, none" {
		t.Errorf("br1: seen %q", seen)
	}
	if seen := res["not running"].Seen; !strings.Contains(seen, "could not look: host1/cm09") {
		t.Errorf("not running: seen %q", seen)
	}
}
