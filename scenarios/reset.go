package scenarios

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/lab"
	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/transcripts"
)

// A teacher hands the next student the lab the last one used: `nslab
// reset` puts it back to how `nslab up` left it. Here a student types one
// of seed 000's exercises (the default bridge, names and links, the
// network modes, the overlay through etcd) on the overlay lab, and nslab
// reset must leave nothing of it: nslab inspect and each daemon's networks
// and containers are as they were before. One spec per exercise: each
// takes the overlay lab from the pool, where the last reset left it.
var _ = Describe("[reset] nslab reset after seed 000's exercises", Label("reset"), func() {
	eachTranscript(func(t *transcripts.Transcript) {
		if t.Seed != "000" {
			return
		}
		It("leaves the lab as nslab inspect and the daemons showed it fresh, after "+t.Name, func(nodeCtx SpecContext) {
			l := UpLab("overlay")
			fresh := looks(l)
			By("seed 000, " + t.Name + ", as typed")
			runTranscript(nodeCtx, l, t, 5*time.Minute)
			Expect(looks(l)).NotTo(Equal(fresh), "%s changed nothing nslab inspect or the daemons show", t.Name)

			By("nslab reset: the lab as it was before " + t.Name)
			out := nslabCLI(l, "reset")
			Expect(out).To(MatchRegexp(`^%s reset in \S+\n$`, l.ID()))
			AddReportEntry("reset after "+t.Name, strings.TrimSpace(out))
			Expect(looks(l)).To(Equal(fresh), "after %s and nslab reset", t.Name)
		}, NodeTimeout(6*time.Minute))
	})
})

// looks is what a teacher sees of a lab: nslab inspect, and each docker
// host's networks (name, driver, scope, subnets) and containers. A reset
// starts the daemons again, as fresh ones: another pid, a new docker0 (its
// own MAC and ifindex), new ids for a dockerd's default networks, as after
// nslab up — those are left out (lab.Description.Comparable).
func looks(l *Lab) string {
	GinkgoHelper()
	var d lab.Description
	Expect(json.Unmarshal([]byte(nslabCLI(l, "inspect")), &d)).To(Succeed())
	b, err := json.MarshalIndent(d.Comparable(), "", " ")
	Expect(err).NotTo(HaveOccurred())
	out := []string{string(b)}
	for _, h := range l.Hosts() {
		if h.DockerHost() == "" {
			continue
		}
		d := CLI(l, h.Name)
		var seen []string
		for _, n := range MustNetworkList(d) {
			in := MustNetworkInspect(d, n.Name)
			var subnets []string
			for _, c := range in.IPAM.Config {
				subnets = append(subnets, c.Subnet.String())
			}
			seen = append(seen, fmt.Sprintf("network %s %s %s %v", n.Name, n.Driver, n.Scope, subnets))
		}
		ctx, cancel := contextWithTimeout()
		cs, err := h.Docker().ContainerList(ctx, client.ContainerListOptions{All: true})
		cancel()
		Expect(err).NotTo(HaveOccurred())
		for _, c := range cs.Items {
			seen = append(seen, fmt.Sprintf("container %s %s %s", strings.Join(c.Names, ","), c.Image, c.State))
		}
		slices.Sort(seen)
		out = append(out, h.Name+":\n  "+strings.Join(seen, "\n  "))
	}
	return strings.Join(out, "\n")
}
