package scenarios

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/check"
	. "github.com/nslab/nslab/labtest"
)

// LabelChecks marks every spec that runs a checks file of fixtures/checks:
// `--label-filter=checks` selects them all.
const LabelChecks = "checks"

// A checks file holds a lab to what its exercise makes. Each runs in the
// exercise's own spec, on that spec's lab, at the point where the spec's
// commands (a student's, as typed) have made what the file describes; for
// one exercise of each group (single host, NAT, ports and DNS, across
// hosts, overlay) it also runs at the start of that spec, on the fresh lab,
// where it must fail, saying what it expected and what it saw.
//
// checksFiles says, for E01–E23, where: the lab the file is for, the file
// of the spec that runs it (TestEveryChecksFileRuns holds the table to the
// calls), and what the failures on the fresh lab must include.
var checksFiles = map[string]struct {
	fixture string
	in      string
	before  []string
}{
	"E01": {"single", "e01_netns.go", []string{"/var/run/netns/test1: no such file or directory"}},
	"E02": {"single", "e02_e03_default_bridge.go", []string{"No such container: cm01"}},
	"E03": {"single", "e02_e03_default_bridge.go", nil},
	"E04": {"single", "e04_default_networks.go", nil},
	"E05": {"single", "e05_network_create_rm.go", nil},
	"E06": {"single", "e06_connect_disconnect.go", nil},
	"E07": {"dns", "e07_dns.go", []string{"No such container: cm01"}},
	"E08": {"single", "e08_link.go", nil},
	"E09": {"single", "e09_e11_modes.go", nil},
	"E10": {"single", "e09_e11_modes.go", nil},
	"E11": {"single", "e09_e11_modes.go", nil},
	"E12": {"nat", "e12_nat.go", nil},
	"E13": {"nat", "e13_ports.go", []string{"connection refused"}},
	"E14": {"handwired", "e14_handwired.go", nil},
	"E15": {"single", "e15_point_to_point.go", nil},
	"E16": {"single", "e16_restore_netns.go", nil},
	"E17": {"macvlan", "e17_macvlan.go", nil},
	"E18": {"crosshost", "e18_static_routes.go", []string{"No such container: c101"}},
	// The spec of `nslab gre` is hostd's; on another runtime the file runs
	// in the spec of the kernel's gretap, which only a kernel with GRE
	// runs (not this one): skipped there with the reason, as that spec.
	"E19": {"crosshost", "e19_gre.go", nil},
	"E20": {"overlay", "e20_etcd.go", nil},
	"E21": {"overlay", "e21_overlay.go", []string{"No such container: cm01"}},
	"E22": {"overlay", "e22_gwbridge.go", nil},
	// The spec stops an etcd member, which a reset cannot start again:
	// its lab is its own (UpFreshLab).
	"E23": {"overlay", "e23_quorum.go", nil},
}

// ChecksFile is fixtures/checks/<id>.yaml in this repository.
func ChecksFile(id string) string {
	return filepath.Join(filepath.Dir(Fixture("x")), "checks", id+".yaml")
}

// holdsToChecks runs fixtures/checks/<id>.yaml against the lab of the
// running spec, which must be labelled "checks", and requires every check
// to pass.
func holdsToChecks(l *Lab, id string) {
	GinkgoHelper()
	f := loadChecks(l, id)
	By("nslab check fixtures/checks/" + id + ".yaml: every check passes")
	r := runChecks(l, f, check.Options{})
	Expect(r.Failed).To(BeZero(), "checks that failed after the exercise: %v", failed(r))
	Expect(r.Passed).To(Equal(len(f.Checks)))
}

// failsChecks runs fixtures/checks/<id>.yaml against the fresh lab of the
// running spec, before the exercise's commands: it must fail, and its
// failures must say what checksFiles expects them to.
func failsChecks(l *Lab, id string) {
	GinkgoHelper()
	f := loadChecks(l, id)
	By("nslab check fixtures/checks/" + id + ".yaml on the fresh lab: it fails, each failure saying what it expected and saw")
	Expect(checksFiles[id].before).NotTo(BeEmpty(), "checksFiles names no failure of %s on the fresh lab", id)
	// The fresh lab does not change while it is looked at: a failing check
	// need not try again for its whole deadline (nslab check --deadline).
	expectFailures(runChecks(l, f, check.Options{MaxDeadline: freshLookDeadline}), checksFiles[id].before)
}

// holdsToChecksVia is holdsToChecks in a spec declared once per way
// (eachWay): the docker CLI's spec runs the file, the commands as a
// student types them (and as nslab check meets them in a classroom); the
// Docker API's makes the same state, which its own assertions hold it to.
func holdsToChecksVia(l *Lab, d Docker, id string) {
	GinkgoHelper()
	if checksWay(d, id) {
		holdsToChecks(l, id)
	}
}

// failsChecksVia is failsChecks in the docker CLI's spec of a per-way
// declaration (holdsToChecksVia).
func failsChecksVia(l *Lab, d Docker, id string) {
	GinkgoHelper()
	if checksWay(d, id) {
		failsChecks(l, id)
	}
}

// checksWay says whether the spec, which drives its daemons through d, is
// the one of its per-way declaration that runs id's checks file: the docker
// CLI's, which eachWay labels "checks" when declared with checksHere.
func checksWay(d Docker, id string) bool {
	GinkgoHelper()
	cli := d.Via() == "docker CLI"
	Expect(slices.Contains(CurrentSpecReport().Labels(), LabelChecks)).To(Equal(cli),
		"the docker CLI's spec, and it alone, runs fixtures/checks/%s.yaml and is labelled %q: declare its specs with checksHere", id, LabelChecks)
	return cli
}

// checksHere is the decoration of a spec declared once per way (eachWay)
// whose docker CLI spec runs a checks file (holdsToChecksVia): that spec,
// and not the Docker API's, is labelled "checks".
var checksHere = checksDecoration{}

type checksDecoration struct{}

// loadChecks reads id's checks file and makes sure it is for the lab the
// spec runs and that the spec is labelled "checks".
func loadChecks(l *Lab, id string) *check.File {
	GinkgoHelper()
	Expect(CurrentSpecReport().Labels()).To(ContainElement(LabelChecks), "a spec that runs fixtures/checks/%s.yaml is labelled %q", id, LabelChecks)
	f, err := check.Load(ChecksFile(id))
	Expect(err).NotTo(HaveOccurred())
	Expect(f.Exercise).To(Equal(id))
	Expect(f.Topology).To(Equal(checksFiles[id].fixture), "fixtures/checks/%s.yaml is for another lab than checksFiles says", id)
	Expect(strings.TrimSuffix(filepath.Base(l.Topology().File), ".yaml")).To(Equal(f.Topology), "the lab fixtures/checks/%s.yaml is for", id)
	return f
}

// freshLookDeadline caps the checks' deadlines on a fresh lab.
const freshLookDeadline = time.Second

// runChecks runs a checks file against the lab and prints its table.
func runChecks(l *Lab, f *check.File, o check.Options) *check.Report {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(NodeContext(), time.Minute)
	defer cancel()
	r, err := f.Run(ctx, l.Lab, o)
	Expect(err).NotTo(HaveOccurred())
	var b strings.Builder
	Expect(r.WriteTable(&b)).To(Succeed())
	GinkgoWriter.Print(b.String())
	return r
}

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
