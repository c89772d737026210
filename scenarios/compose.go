package scenarios

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns/kernel"
)

// composeProject is fixtures/compose/docker-compose.yml: db on the
// internal network back (alias database, the named volume data), web on
// front (172.28.5.10, alias www, port 8080) and on back, client on front;
// client depends on web, web on db.
func composeProject() string {
	return sourcePath("fixtures", "compose", "docker-compose.yml")
}

// compose runs `docker-compose -f PROJECT -p demo ARGS...` inside the host,
// as typed in its shell: the host's own /var/run/docker.sock is its daemon
// (Host.Exec leaves DOCKER_HOST and DOCKER_CONTEXT outside), never the
// machine's.
func compose(h *Host, args ...string) (stdout, stderr string, code int) {
	GinkgoHelper()
	ctx, cancel := StepContext(2 * StepTimeout)
	defer cancel()
	argv := append([]string{"env", "-u", "COMPOSE_PROJECT_NAME", "-u", "COMPOSE_FILE", "docker-compose", "--ansi", "never", "-f", composeProject(), "-p", "demo"}, args...)
	r, err := h.Exec(ctx, argv...)
	Expect(err).NotTo(HaveOccurred(), "docker-compose %s on %s", strings.Join(args, " "), h.Name)
	return r.Stdout, r.Stderr, r.ExitCode
}

// mustCompose is compose that must exit 0; it returns stdout.
func mustCompose(h *Host, args ...string) string {
	GinkgoHelper()
	out, errs, code := compose(h, args...)
	Expect(code).To(BeZero(), "docker-compose %s on %s:\n%s%s", strings.Join(args, " "), h.Name, out, errs)
	return out
}

// Compose on both runtimes: Debian's docker-compose 1.29 brings up a
// project of three services on user networks, one of them internal, with
// an alias, a static address, a published port, depends_on and a named
// volume; exec, ps, logs, down and down -v do what they do on Docker
// 20.10, seen in the kernel and on the wire.
var _ = Describe("[compose] docker-compose up, exec, ps, logs, down on a lab host", Label("compose"), func() {
	var l *Lab
	BeforeEach(func(ctx SpecContext) {
		l = UpLab("classroom")
	}, NodeTimeout(setupTimeout))

	It("brings up the project as on real Docker: the static address, the aliases, the internal network, the published port and the volume", func(nodeCtx SpecContext) {
		node1, node2 := l.H("node1"), l.H("node2")
		d := CLI(l, "node1")
		t0 := time.Now()

		By("docker-compose -p demo up -d: networks, volume, then db, web, client in the order of depends_on")
		mustCompose(node1, "up", "-d")
		Expect(startOrder(nodeCtx, node1, t0)).To(Equal([]string{"demo_db_1", "demo_web_1", "demo_client_1"}))

		By("docker-compose ps: the three services up, web's port published")
		ps := mustCompose(node1, "ps")
		for _, name := range []string{"demo_client_1", "demo_db_1", "demo_web_1"} {
			Expect(ps).To(MatchRegexp(`(?m)^%s\s.*\sUp\s`, name))
		}
		Expect(ps).To(MatchRegexp(`(?m)^demo_web_1\s.*\sUp\s+0\.0\.0\.0:8080->80/tcp`))

		By("web's eth0 is front with its static address; back, internal, is eth1")
		web, db, client := NetNSOf(d, "demo_web_1"), NetNSOf(d, "demo_db_1"), NetNSOf(d, "demo_client_1")
		Expect(LinkNamed(web, "eth0").Addrs).To(ConsistOf("172.28.5.10/24"))
		Expect(LinkNamed(web, "eth0").MAC).To(Equal("02:42:ac:1c:05:0a"))
		backSubnet := MustNetworkInspect(d, "demo_back").IPAM.Config[0].Subnet.String()
		Expect(LinkNamed(web, "eth1").Addrs).To(ConsistOf(HavePrefix(strings.TrimSuffix(backSubnet, "0.0/16"))))
		Expect(Routes(web, kernel.MainTable)).To(ContainElement(HavePrefix("default via 172.28.5.1 dev eth0")))

		By("the aliases answer from the embedded DNS: www from client, database from web")
		Expect(resolve(client, "www")).To(ConsistOf(netip.MustParseAddr("172.28.5.10")))
		dbAddr := ipv4Of(db, "eth0")
		Expect(resolve(web, "database")).To(ConsistOf(dbAddr))
		Expect(resolve(web, "db")).To(ConsistOf(dbAddr))

		By("docker-compose exec -T web nc database 5000: db's file in the named volume")
		Expect(mustCompose(node1, "exec", "-T", "web", "nc", "database", "5000")).To(Equal("stored\n"))

		By("the internal network: no masquerade for back, Docker's two DROP rules, and nothing of db reaches node2")
		nat, filter := ruleset(node1, "nat"), ruleset(node1, "filter")
		backBridge := "br-" + MustNetworkInspect(d, "demo_back").ID[:12]
		Expect(nat).NotTo(ContainSubstring("-s " + backSubnet))
		Expect(filter).To(ContainSubstring(fmt.Sprintf("-A DOCKER-ISOLATION-STAGE-1 ! -s %s -o %s -j DROP", backSubnet, backBridge)))
		Expect(filter).To(ContainSubstring(fmt.Sprintf("-A DOCKER-ISOLATION-STAGE-1 ! -d %s -i %s -j DROP", backSubnet, backBridge)))
		Expect(nat).To(ContainSubstring(fmt.Sprintf("-A POSTROUTING -s 172.28.5.0/24 ! -o %s -j MASQUERADE", "br-"+MustNetworkInspect(d, "demo_front").ID[:12])))
		node2Addr := node2.Addr().String()
		c := StartCapture(node2.NetNS(), "eth1")
		ExpectNoPing(db, node2Addr)
		Expect(StopCapture(c)).NotTo(ContainElement(HaveField("ICMP", "EchoRequest")), "a packet of db's reached node2")
		ExpectPing(web, node2Addr)

		By("node2 fetches web's page through node1's published port 8080")
		Expect(fetch(node2.NetNS(), fmt.Sprintf("http://%s:8080/", node1.Addr()), probeTimeout)).To(Equal("hello from web\n"))

		By("docker-compose logs: each service's line")
		logs := mustCompose(node1, "logs", "--no-color")
		Expect(logs).To(MatchRegexp(`(?m)^db_1\s+\| db ready$`))
		Expect(logs).To(MatchRegexp(`(?m)^web_1\s+\| web ready$`))

		ObserveWith(l, "compose", "up", composeFacts(nodeCtx, node1, t0, ps)...)

		By("docker-compose down: containers and networks go, the named volume stays with what was written to it")
		mustCompose(node1, "exec", "-T", "db", "sh", "-c", "echo kept > /data/kept")
		mustCompose(node1, "down")
		Expect(projectContainers(nodeCtx, node1)).To(BeEmpty())
		for _, n := range MustNetworkList(d) {
			Expect(n.Name).NotTo(HavePrefix("demo_"))
		}
		Expect(LinkNames(node1.NetNS())).NotTo(ContainElements(backBridge))
		Expect(node1.DockerCLI("volume", "ls", "-q")).To(Equal("demo_data\n"))

		By("up -d again: back gets the next subnet (Docker's IPAM goes on round its pools), the volume still holds the file")
		mustCompose(node1, "up", "-d")
		Expect(MustNetworkInspect(d, "demo_back").IPAM.Config[0].Subnet.String()).NotTo(Equal(backSubnet))
		Expect(mustCompose(node1, "exec", "-T", "db", "cat", "/data/kept")).To(Equal("kept\n"))

		By("docker-compose down -v: the volume goes too")
		mustCompose(node1, "down", "-v")
		Expect(node1.DockerCLI("volume", "ls", "-q")).To(BeEmpty())
		Expect(projectContainers(nodeCtx, node1)).To(BeEmpty())
	}, NodeTimeout(specTimeout))
})

// ruleset is one iptables table of the host, as iptables-save prints it.
func ruleset(h *Host, table string) string {
	GinkgoHelper()
	return h.Sh("iptables-save -t " + table)
}

// projectContainers lists the names of the containers, running or not,
// that carry the project's label, as docker-compose ps asks for them.
func projectContainers(ctx context.Context, h *Host) []string {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	list, err := h.Docker().ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "com.docker.compose.project=demo")})
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, c := range list.Items {
		out = append(out, strings.TrimPrefix(c.Names[0], "/"))
	}
	sort.Strings(out)
	return out
}

// events are the host daemon's events since t0, as GET /events gives them
// to docker-compose.
func daemonEvents(ctx context.Context, h *Host, t0 time.Time) []events.Message {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	// Until now: one still ahead keeps the stream open until it passes.
	res := h.Docker().Events(ctx, client.EventsListOptions{Since: lab.EventsTimestamp(t0), Until: lab.EventsTimestamp(time.Now())})
	var out []events.Message
	for {
		select {
		case m := <-res.Messages:
			out = append(out, m)
		case err := <-res.Err:
			Expect(err).To(MatchError(io.EOF))
			return out
		}
	}
}

// startOrder lists the containers in the order their start events came.
func startOrder(ctx context.Context, h *Host, t0 time.Time) []string {
	GinkgoHelper()
	var out []string
	for _, e := range daemonEvents(ctx, h, t0) {
		if e.Type == events.ContainerEventType && e.Action == events.ActionStart {
			out = append(out, e.Actor.Attributes["name"])
		}
	}
	return out
}

var composeSpacesRE = regexp.MustCompile(`\s+`)

// composeFacts are what both runtimes must agree on beyond the lab's own
// observation: docker-compose ps, the project's events (each container's
// in their order; networks' and volumes' as a set, their order being
// dockerd's map order), the labels Compose put on networks and the
// volume, and what inspect shows of the containers Compose created.
func composeFacts(ctx context.Context, h *Host, t0 time.Time, ps string) []string {
	GinkgoHelper()
	var facts []string
	for _, line := range strings.Split(strings.TrimSpace(ps), "\n") {
		facts = append(facts, "compose ps: "+composeSpacesRE.ReplaceAllString(strings.TrimSpace(line), " "))
	}
	names := map[string]string{}
	var others []string
	for _, e := range daemonEvents(ctx, h, t0) {
		a := e.Actor.Attributes
		switch e.Type {
		case events.ContainerEventType:
			names[e.Actor.ID] = a["name"]
			action, _, _ := strings.Cut(string(e.Action), ":")
			facts = append(facts, fmt.Sprintf("event container %s: %s", a["name"], action))
		default:
			others = append(others, fmt.Sprintf("event %s %s %s container=%s", e.Type, e.Action, a["name"], a["container"]))
		}
	}
	for i, o := range others {
		for id, n := range names {
			o = strings.ReplaceAll(o, id, n)
		}
		others[i] = o
	}
	slices.Sort(others)
	facts = append(facts, others...)
	return append(facts, composeInspectFacts(ctx, h)...)
}

// composeInspectFacts are the labels of the project's networks and volume
// and, per container, the inspect fields Compose sets or reads.
func composeInspectFacts(ctx context.Context, h *Host) []string {
	GinkgoHelper()
	c := h.Docker()
	ctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	var facts []string
	for _, n := range []string{"demo_back", "demo_front"} {
		in, err := c.NetworkInspect(ctx, n, client.NetworkInspectOptions{})
		Expect(err).NotTo(HaveOccurred())
		facts = append(facts, fmt.Sprintf("network %s: labels=%s internal=%v attachable=%v ipv6=%v ipam-driver=%s", n, sortedMap(withoutVersion(in.Network.Labels)), in.Network.Internal, in.Network.Attachable, in.Network.EnableIPv6, in.Network.IPAM.Driver))
	}
	v, err := c.VolumeInspect(ctx, "demo_data", client.VolumeInspectOptions{})
	Expect(err).NotTo(HaveOccurred())
	facts = append(facts, fmt.Sprintf("volume demo_data: driver=%s scope=%s labels=%s", v.Volume.Driver, v.Volume.Scope, sortedMap(withoutVersion(v.Volume.Labels))))
	for _, name := range projectContainers(ctx, h) {
		in, err := c.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		Expect(err).NotTo(HaveOccurred())
		ct := in.Container
		hc := ct.HostConfig
		facts = append(facts, fmt.Sprintf("container %s: network-mode=%s ipc=%s cgroupns=%s links=%v binds=%v ports=%v restart=%q log=%s", name,
			hc.NetworkMode, hc.IpcMode, hc.CgroupnsMode, hc.Links, hc.Binds, hc.PortBindings, hc.RestartPolicy.Name, hc.LogConfig.Type))
		for net, es := range ct.NetworkSettings.Networks {
			aliases := slices.Clone(es.Aliases)
			for i, a := range aliases {
				if len(a) == 12 && strings.HasPrefix(ct.ID, a) {
					aliases[i] = "<short id>"
				}
			}
			slices.Sort(aliases)
			ipam := ""
			if es.IPAMConfig != nil {
				ipam = es.IPAMConfig.IPv4Address.String()
			}
			facts = append(facts, fmt.Sprintf("container %s network %s: aliases=%v ipam=%s", name, net, aliases, ipam))
		}
		for _, m := range ct.Mounts {
			facts = append(facts, fmt.Sprintf("container %s mount: %s %s -> %s rw=%v", name, m.Type, m.Name, m.Destination, m.RW))
		}
		facts = append(facts, fmt.Sprintf("container %s labels: %s", name, sortedMap(withoutVersion(ct.Config.Labels))))
	}
	return facts
}

// withoutVersion drops the labels that name where Compose ran from or the
// hash of the configuration; what is left is the project's.
func withoutVersion(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		switch k {
		case "com.docker.compose.project.working_dir", "com.docker.compose.project.config_files", "com.docker.compose.config-hash":
			v = "<set>"
		}
		out[k] = v
	}
	return out
}
