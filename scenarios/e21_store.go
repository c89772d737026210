package scenarios

import (
	"regexp"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/nslab/nslab/labtest"
)

// Seed 001 ends its overlay steps with `etcdctl ls /docker`: "在etcd中查看网络
// 信息" (look at the network's information in etcd). Docker 20.10 keeps
// its classic overlay in etcd's v2 key space, under names libnetwork gives
// them (fixtures/docker-20.10/etcd-v2-overlay.txt is the whole tree, values
// included, as real dockerds wrote it in this lab): every daemon, real or
// hostd, must write the same names, so that a student reads the same tree.
var _ = Describe("[E21] the cluster store as Docker writes it", Label("E21"), func() {
	It("holds, after seed 001's steps, the keys Docker 20.10 writes under /docker, ids naming the same things", func(ctx SpecContext) {
		l := UpLab("overlay")
		d := map[string]Docker{"node1": CLI(l, "node1"), "node2": CLI(l, "node2")}

		By("docker network create -d overlay etcd_network (node1); docker network ls (node2)")
		MustNetworkCreate(d["node1"], NetworkCreate{Name: "etcd_network", Driver: "overlay"})
		Eventually(func() []NetworkRow { return MustNetworkList(d["node2"]) }, 10*time.Second, 100*time.Millisecond).Should(
			ContainElement(HaveField("Name", "etcd_network")))

		By(`docker run -d --name test1 --network etcd_network busybox sh -c "while true;do sleep 3600;done" (node1), test2 on node2`)
		for _, r := range [][2]string{{"node1", "test1"}, {"node2", "test2"}} {
			MustRun(d[r[0]], Run{Name: r[1], Network: "etcd_network", Image: "busybox", Cmd: []string{"sh", "-c", "while true;do sleep 3600;done"}})
		}
		By("docker exec test1 ping -c 1 test2")
		Eventually(func() (string, error) {
			r, err := execIn(d["node1"], "test1", "ping", "-c", "1", "-W", "1", "test2")
			return r.Stdout, err
		}, 20*time.Second, 200*time.Millisecond).Should(MatchRegexp(received))

		By("ETCDCTL_API=2 etcdctl ls /docker (node1)")
		Expect(outputLines(etcdctl(l, "node1", "2", "ls", "/docker"))).To(ConsistOf("/docker/network", "/docker/nodes"))

		By("ETCDCTL_API=2 etcdctl ls --recursive -p /docker (node2): Docker's keys and directories")
		want := []string{
			"/docker/network/", "/docker/network/v1.0/",
			"/docker/network/v1.0/endpoint/",
			"/docker/network/v1.0/endpoint/<docker_gwbridge@node1>/", "/docker/network/v1.0/endpoint/<docker_gwbridge@node2>/",
			"/docker/network/v1.0/endpoint/<etcd_network>/",
			"/docker/network/v1.0/endpoint/<etcd_network>/<test1 on etcd_network>",
			"/docker/network/v1.0/endpoint/<etcd_network>/<test2 on etcd_network>",
			"/docker/network/v1.0/endpoint_count/", "/docker/network/v1.0/endpoint_count/<etcd_network>",
			"/docker/network/v1.0/idm/", "/docker/network/v1.0/idm/vxlan-id",
			"/docker/network/v1.0/ipam/", "/docker/network/v1.0/ipam/default/",
			"/docker/network/v1.0/ipam/default/config/", "/docker/network/v1.0/ipam/default/config/GlobalDefault",
			"/docker/network/v1.0/ipam/default/data/", "/docker/network/v1.0/ipam/default/data/GlobalDefault/",
			"/docker/network/v1.0/ipam/default/data/GlobalDefault/10.0.0.0/",
			"/docker/network/v1.0/ipam/default/data/GlobalDefault/10.0.0.0/24",
			"/docker/network/v1.0/network/", "/docker/network/v1.0/network/<etcd_network>",
			"/docker/network/v1.0/overlay/", "/docker/network/v1.0/overlay/network/",
			"/docker/network/v1.0/overlay/network/<etcd_network>",
			"/docker/nodes/", "/docker/nodes/192.168.8.148:2375", "/docker/nodes/192.168.8.150:2375",
		}
		Expect(storeNames(l, "node2")).To(ConsistOf(want))

		By("docker network inspect etcd_network (node1); etcdctl get: two endpoints counted, the VXLAN id 256 in the overlay record, test1's endpoint at node1")
		n := MustNetworkInspect(d["node1"], "etcd_network")
		Expect(etcdctl(l, "node1", "2", "get", "/docker/network/v1.0/endpoint_count/"+n.ID)).To(Equal(`{"Count":2}` + "\n"))
		Expect(etcdctl(l, "node1", "2", "get", "/docker/network/v1.0/overlay/network/"+n.ID)).To(Equal(
			`{"mtu":0,"secure":false,"subnets":[{"SubnetIP":"10.0.0.0/24","GwIP":"10.0.0.1/24","Vni":256}]}` + "\n"))
		test1 := etcdctl(l, "node2", "2", "get", "/docker/network/v1.0/endpoint/"+n.ID+"/"+n.Containers[containerID(l, "node1", "test1")].EndpointID)
		for _, s := range []string{`"addr":"10.0.0.2/24"`, `"locator":"192.168.8.150"`, `"mac":"02:42:0a:00:00:02"`, `"name":"test1"`, `"v4PoolID":"GlobalDefault/10.0.0.0/24"`} {
			Expect(test1).To(ContainSubstring(s))
		}

		By("the inspection made node1's other networks' endpoint directories, as dockerd's listing of their endpoints does")
		Expect(storeNames(l, "node2")).To(ConsistOf(append(want,
			"/docker/network/v1.0/endpoint/<bridge@node1>/", "/docker/network/v1.0/endpoint/<host@node1>/",
			"/docker/network/v1.0/endpoint/<none@node1>/")))
	}, NodeTimeout(specTimeout))
})

// containerID is a container's full id, which `docker network inspect`
// lists its containers by.
func containerID(l *Lab, host, container string) string {
	GinkgoHelper()
	return strings.TrimSpace(l.DockerCLI(host, "inspect", "-f", "{{.Id}}", container))
}

// fullID is a 64-hex id: a network's, an endpoint's.
var fullID = regexp.MustCompile(`[0-9a-f]{64}`)

// storeNames is `ETCDCTL_API=2 etcdctl ls --recursive -p /docker` on host,
// each id read as what it names on the lab's docker hosts: "<name>" for a
// global network, "<name@host>" for a local one, "<container on network>"
// for an endpoint. Only lists and container inspections ask the daemons: a
// network inspection would itself make keys.
func storeNames(l *Lab, host string) []string {
	GinkgoHelper()
	names := map[string]string{}
	for _, h := range []string{"node1", "node2"} {
		for _, line := range outputLines(l.DockerCLI(h, "network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}} {{.Scope}}")) {
			f := strings.Fields(line)
			names[f[0]] = "<" + f[1] + "@" + h + ">"
			if f[2] == "global" {
				names[f[0]] = "<" + f[1] + ">"
			}
		}
		for _, c := range outputLines(l.DockerCLI(h, "ps", "-aq", "--no-trunc")) {
			f := strings.Fields(l.DockerCLI(h, "inspect", "-f", "{{.Name}}{{range $n, $e := .NetworkSettings.Networks}} {{$n}}={{$e.EndpointID}}{{end}}", c))
			for _, e := range f[1:] {
				n, id, _ := strings.Cut(e, "=")
				names[id] = "<" + strings.TrimPrefix(f[0], "/") + " on " + n + ">"
			}
		}
	}
	var out []string
	for _, k := range outputLines(etcdctl(l, host, "2", "ls", "--recursive", "-p", "/docker")) {
		out = append(out, fullID.ReplaceAllStringFunc(k, func(id string) string {
			if n, ok := names[id]; ok {
				return n
			}
			return "<unknown " + id[:12] + ">"
		}))
	}
	sort.Strings(out)
	return out
}
