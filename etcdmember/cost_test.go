package etcdmember_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nslab/nslab/netns/nstest"
)

// What linking etcd costs a process that never starts a member, as hostd
// on a host without etcd would be: four idle programs that differ only in
// what they link (nothing; etcd's gRPC v3 client; this package, hence the
// etcd server; the store's plain HTTP client, which hostd links), each
// measured three times, the median kept.
func TestLinkCost(t *testing.T) {
	nstest.NeedRoot(t)
	ns := nstest.NewNS(t, prefix, "idle")
	programs := []struct {
		name, bin string
		args      []string
	}{
		{"bare (standard library)", "bare", nil},
		{"etcd client v3 linked", "client", nil},
		{"etcdmember linked, no member", "membermain", []string{"-idle"}},
		{"store client linked", "idlegateway", nil},
	}
	medians := make([]memory, len(programs))
	for i, p := range programs {
		var runs []memory
		for range 3 {
			pr := startIn(t, ns, p.bin, binary(t, p.bin), p.args...)
			if l := pr.waitReady(t, 10*time.Second); l.text != "idle" {
				t.Fatalf("%s: said %q, want idle", p.bin, l.text)
			}
			// Let the runtime finish its start-up (first GC cycle, sysmon).
			time.Sleep(300 * time.Millisecond)
			m, err := memoryOf(pr.cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			pr.stop(t)
			runs = append(runs, m)
		}
		slices.SortFunc(runs, func(a, b memory) int { return a.RSS - b.RSS })
		medians[i] = runs[1]
		t.Logf("%-30s %v", p.name, medians[i])
	}
	base := medians[0]
	for i, p := range programs[1:] {
		m := medians[i+1]
		t.Logf("%-30s costs VmRSS %+.1f MB (anon %+.1f, file %+.1f), PSS %+.1f MB over bare",
			p.name, mb(m.RSS-base.RSS), mb(m.Anon-base.Anon), mb(m.File-base.File), mb(m.PSS-base.PSS))
	}
	// The measure must see the server's packages: if it does not, the
	// idle program no longer links what it claims to.
	if medians[2].RSS <= medians[1].RSS || medians[1].RSS <= base.RSS {
		t.Errorf("RSS not ordered bare < client < server: %v", fmt.Sprint(medians))
	}
	// hostd's client must stay far below etcd's: gRPC's share of it is
	// what hostd no longer pays.
	if gw, cl := medians[3], medians[1]; gw.RSS-base.RSS > (cl.RSS-base.RSS)/2 {
		t.Errorf("the store client costs VmRSS %+.1f MB over bare, etcd's gRPC client %+.1f MB: want under half",
			mb(gw.RSS-base.RSS), mb(cl.RSS-base.RSS))
	}
}

// BenchmarkClusterStart is the time from starting two member processes,
// each in its own host namespace, until both have joined the cluster (mean
// and worst); ns/op also counts stopping them, about a second, which etcd
// spends waiting for its peer connections to close.
func BenchmarkClusterStart(b *testing.B) {
	hosts := newHosts(b, 2)
	var total, longest time.Duration
	for b.Loop() {
		procs, took := startCluster(b, hosts, b.TempDir(), false)
		total += took
		longest = max(longest, took)
		for _, p := range procs {
			p.stop(b)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/ready")
	b.ReportMetric(float64(longest.Milliseconds()), "max-ms/ready")
}
