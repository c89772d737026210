package bridge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nslab/nslab/netimpl"
)

// BenchmarkSandboxJoin measures the network side of a container start on
// a user-defined bridge: a fresh namespace, then its endpoint (veth pair,
// address, MAC, default route).
func BenchmarkSandboxJoin(b *testing.B) {
	h := newHostB(b)
	h.create(netimpl.NetworkSpec{Name: "benchnet", Driver: "bridge"})
	var sbs []netimpl.Sandbox
	var tSandbox, tJoin time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		sb, err := h.e.NewSandbox(netimpl.SandboxSpec{ContainerID: fmt.Sprint(i), PinName: fmt.Sprintf("%sb%d", prefix, i)})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := h.e.Join(sb.ID, "benchnet", netimpl.EndpointSpec{Name: fmt.Sprint(i)}); err != nil {
			b.Fatal(err)
		}
		tSandbox += t1.Sub(t0)
		tJoin += time.Since(t1)
		sbs = append(sbs, sb)
	}
	b.StopTimer()
	b.ReportMetric(float64(tSandbox.Microseconds())/float64(b.N), "µs-sandbox/op")
	b.ReportMetric(float64(tJoin.Microseconds())/float64(b.N), "µs-join/op")
	for _, sb := range sbs {
		if err := h.e.DeleteSandbox(sb.ID); err != nil {
			b.Fatal(err)
		}
	}
}
