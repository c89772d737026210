package scenarios

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/lab"
	. "github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netimpl/gre"
)

// exercise is an exercise as its checks file holds a lab to it: the lab its
// specs use and the commands they type, through the docker CLI as a
// student does.
type exercise struct {
	fixture string
	do      func(l *Lab)
	// before: the file also runs on the fresh lab, where it must fail, and
	// each of these must be among what its failures saw.
	before []string
	// skip says why the exercise cannot run here ("" when it can).
	skip func() string
	// fresh: the commands leave what a reset cannot restore (an etcd
	// member stopped and started again), so the lab is the spec's own.
	fresh bool
}

// exercises are E01–E23, each made of its specs' own steps.
var exercises = map[string]exercise{
	"E01": {fixture: "single", do: func(l *Lab) { e01Pair(l) }, before: []string{"/var/run/netns/test1: no such file or directory"}},
	"E02": {fixture: "single", do: onHost1(func(_ *Lab, d Docker) { defaultBridgePair(d) }), before: []string{"No such container: cm01"}},
	"E03": {fixture: "single", do: onHost1(func(_ *Lab, d Docker) { defaultBridgePair(d) })},
	"E04": {fixture: "single", do: onHost1(func(_ *Lab, d Docker) { defaultBridgePair(d) })},
	"E05": {fixture: "single", do: onHost1(func(l *Lab, d Docker) {
		first, second := e05Networks[0], e05Networks[1]
		bridgeCreateAndRemove(l, d, first.create, first.subnet, first.gateway, first.bridgeAddr)
		MustNetworkCreate(d, second.create)
	})},
	"E06": {fixture: "single", do: onHost1(func(_ *Lab, d Docker) {
		defaultBridgePair(d)
		e06Br1(d)
		e06Disconnect(d)
		e06Connect(d)
	})},
	"E07": {fixture: "dns", do: onHost1(func(_ *Lab, d Docker) {
		e07UserBridge(d)
		e07DefaultBridge(d)
	}), before: []string{"No such container: cm01"}},
	"E08": {fixture: "single", do: onHost1(func(_ *Lab, d Docker) { e08Link(d) })},
	"E09": {fixture: "single", do: onHost1(func(_ *Lab, d Docker) { MustRun(d, e09Run) })},
	"E10": {fixture: "single", do: onHost1(func(_ *Lab, d Docker) { MustRun(d, e10Run) })},
	"E11": {fixture: "single", do: onHost1(func(_ *Lab, d Docker) { runAll(d, e11Runs) })},
	"E12": {fixture: "nat", do: onHost1(func(l *Lab, d Docker) {
		serveInternet(l)
		MustRun(d, e12Web)
	})},
	"E13": {fixture: "nat", do: onHost1(func(_ *Lab, d Docker) { MustRun(d, e13Web) }), before: []string{"connection refused"}},
	"E14": {fixture: "handwired", do: onHost1(func(l *Lab, d Docker) {
		runAll(d, e14Runs)
		e14Wire(l, d)
	})},
	"E15": {fixture: "single", do: onHost1(func(l *Lab, d Docker) {
		runAll(d, e15Runs)
		e15Link(l, d)
	})},
	"E16": {fixture: "single", do: onHost1(func(l *Lab, d Docker) {
		MustRun(d, Run{Name: "cm01"})
		e16Restore(l, d, "cm01", "restored")
	})},
	"E17": {fixture: "macvlan", do: func(l *Lab) {
		for _, h := range e17Hosts {
			e17Promisc(l, h)
			d := CLI(l, h)
			MustNetworkCreate(d, e17Macvlan1)
			MustRun(d, e17Busybox(h))
		}
	}},
	"E18": {fixture: "crosshost", do: func(l *Lab) {
		crossHostPair(CLI(l, "host101"), CLI(l, "host102"))
		e18Routes(l)
		e18Accept(l)
	}, before: []string{"No such container: c101"}},
	"E19": {fixture: "crosshost", do: func(l *Lab) {
		name, impl := nslabGRE()
		e19(l, CLI, name, impl, nslabGREAdd(l, name, impl))
	}, skip: func() string {
		if current.Name() != lab.RuntimeHostd && gre.KernelProbe() != nil {
			return fmt.Sprintf("E19 on %s needs the kernel's gretap (nslab gre is hostd's): %v", current.Name(), gre.KernelProbe())
		}
		return ""
	}},
	"E20": {fixture: "overlay", do: func(*Lab) {}},
	"E21": {fixture: "overlay", do: func(l *Lab) { overlayPair(l, CLI(l, "node1"), CLI(l, "node2")) }, before: []string{"No such container: cm01"}},
	"E22": {fixture: "overlay", do: func(l *Lab) { overlayPair(l, CLI(l, "node1"), CLI(l, "node2")) }},
	"E23": {fixture: "overlay", do: func(l *Lab) {
		overlayPair(l, CLI(l, "node1"), CLI(l, "node2"))
		ctx, cancel := context.WithTimeout(NodeContext(), 30*time.Second)
		defer cancel()
		Expect(l.StopEtcd(ctx, "node2")).To(Succeed())
		// Back before the spec's own cleanups look at the daemons: a real
		// dockerd's inspect of a global network waits for the store.
		DeferCleanup(func(ctx SpecContext) { Expect(l.StartEtcd(ctx, "node2")).To(Succeed()) }, NodeTimeout(45*time.Second))
	}, fresh: true},
}

// onHost1 runs an exercise's commands through host1's docker CLI.
func onHost1(do func(l *Lab, d Docker)) func(*Lab) {
	return func(l *Lab) { do(l, CLI(l, "host1")) }
}

// ChecksFile is fixtures/checks/<id>.yaml in this repository.
func ChecksFile(id string) string {
	return filepath.Join(filepath.Dir(Fixture("x")), "checks", id+".yaml")
}

// runChecks runs a checks file against the lab and prints its table.
func runChecks(l *Lab, f *check.File) *check.Report {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(NodeContext(), time.Minute)
	defer cancel()
	r, err := f.Run(ctx, l.Lab, check.Options{})
	Expect(err).NotTo(HaveOccurred())
	var b strings.Builder
	Expect(r.WriteTable(&b)).To(Succeed())
	GinkgoWriter.Print(b.String())
	return r
}

// Every exercise's checks file passes once the exercise's commands ran, and
// for one exercise of each group at least (single host, NAT, ports and DNS,
// across hosts, overlay) it fails on the fresh lab, saying what it expected
// and what it saw.
var _ = Describe("[checks] fixtures/checks hold each exercise's lab to what the exercise makes", Label("checks"), func() {
	var ids []string
	for id := range exercises {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ex := exercises[id]
		name := fmt.Sprintf("[%s] fixtures/checks/%s.yaml passes after the exercise's commands", id, id)
		if len(ex.before) > 0 {
			name += ", and fails before them saying why"
		}
		It(name, Label(id), func(ctx SpecContext) {
			if ex.skip != nil {
				if why := ex.skip(); why != "" {
					Skip(why)
				}
			}
			f, err := check.Load(ChecksFile(id))
			Expect(err).NotTo(HaveOccurred())
			Expect(f.Exercise).To(Equal(id))
			Expect(f.Topology).To(Equal(ex.fixture))
			up := UpLab
			if ex.fresh {
				up = UpFreshLab
			}
			l := up(ex.fixture)
			if len(ex.before) > 0 {
				By("nslab check fixtures/checks/" + id + ".yaml on the fresh lab: it fails, each failure saying what it expected and saw")
				expectFailures(runChecks(l, f), ex.before)
			}
			By("the exercise's commands")
			ex.do(l)
			By("nslab check fixtures/checks/" + id + ".yaml: every check passes")
			r := runChecks(l, f)
			Expect(r.Failed).To(BeZero(), "checks that failed after the exercise: %v", failed(r))
			Expect(r.Passed).To(Equal(len(f.Checks)))
		}, NodeTimeout(specTimeout))
	}
})

func expectFailures(r *check.Report, says []string) {
	GinkgoHelper()
	Expect(r.OK()).To(BeFalse(), "every check passed on the fresh lab")
	var seen []string
	for _, res := range r.Results {
		if res.Passed {
			continue
		}
		Expect(res.Expected).NotTo(BeEmpty(), res.Name)
		Expect(res.Seen).NotTo(BeEmpty(), "%s failed without saying what it saw", res.Name)
		seen = append(seen, res.Seen)
	}
	for _, s := range says {
		Expect(strings.Join(seen, "\n")).To(ContainSubstring(s))
	}
}

func failed(r *check.Report) []string {
	var out []string
	for _, res := range r.Results {
		if !res.Passed {
			out = append(out, fmt.Sprintf("%s (line %d): expected %s; seen %s", res.Name, res.Line, res.Expected, res.Seen))
		}
	}
	return out
}
