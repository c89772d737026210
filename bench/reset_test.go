package bench

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns/nstest"
	"github.com/nslab/nslab/transcripts"
)

// BenchmarkResetAfterSeed000 is issue 16's figure as a teacher meets it:
// the overlay lab (two docker hosts, an etcd member in each) comes up as
// `nslab up` brings it (resettable), a student types one of seed 000's
// exercises as written (the default bridge, names and links, the network
// modes, the overlay through etcd), the lab is reset, then taken down. Up,
// reset and down are timed in the same round, so the machine's load weighs
// on the three alike; each round's reset / (up + down) is reported (mean
// and median), and must stay under a third:
//
//	go test -run '^$' -bench ResetAfterSeed000 -benchtime 2x -v ./bench/
//
// The exercise itself is not timed; a step that fails fails the benchmark
// (the suites judge the exercises: here they only leave a lab to reset).
func BenchmarkResetAfterSeed000(b *testing.B) {
	needRoot(b)
	topo, err := lab.LoadTopology(filepath.Join("..", "fixtures", "overlay.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	all, err := transcripts.Load(filepath.Join("..", "transcripts"))
	if err != nil {
		b.Fatal(err)
	}
	var seed []*transcripts.Transcript
	for _, t := range all {
		if t.Seed == "000" {
			seed = append(seed, t)
		}
	}
	var rounds []resetRound
	for i := 0; i < b.N; i++ {
		for _, t := range seed {
			rounds = append(rounds, resetRoundAfter(b, topo, t))
		}
	}
	reportResets(b, rounds)
}

// resetRound is one round's up, reset and down.
type resetRound struct {
	exercise        string
	up, reset, down time.Duration
}

// resetRoundAfter brings topo up, runs t on it, resets the lab and takes
// it down, timing all but the exercise.
func resetRoundAfter(b *testing.B, topo *lab.Topology, t *transcripts.Transcript) resetRound {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	nstest.Settle(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	o := lab.Options{Root: b.TempDir(), Hostd: hostdBin, Resettable: true}
	r := resetRound{exercise: t.Name}
	t0 := time.Now()
	l, err := lab.Up(ctx, topo, o)
	if err != nil {
		b.Fatal(err)
	}
	r.up = time.Since(t0)
	defer func() {
		if r.down == 0 { // a step below failed
			l.Down(ctx)
		}
	}()
	var log strings.Builder
	run := transcripts.Runner{Lab: l, Log: &log, Timeout: time.Minute}
	if err := run.Run(ctx, t); err != nil {
		b.Fatalf("seed 000, %s: %v\n%s", t.Name, err, log.String())
	}
	t1 := time.Now()
	if err := l.Reset(ctx); err != nil {
		b.Fatalf("reset after %s: %v", t.Name, err)
	}
	r.reset = time.Since(t1)
	t2 := time.Now()
	if err := l.Down(ctx); err != nil {
		b.Fatal(err)
	}
	r.down = time.Since(t2)
	b.Logf("%-12s up %4d ms  reset %4d ms  down %3d ms  reset/(up+down) %.2f", r.exercise,
		r.up.Milliseconds(), r.reset.Milliseconds(), r.down.Milliseconds(), r.ratio())
	return r
}

func (r resetRound) ratio() float64 { return float64(r.reset) / float64(r.up+r.down) }

// reportResets reports the means of the rounds and the median of each
// round's own ratio: on a shared machine one slow up or reset moves the
// means, the median is the steadier figure.
func reportResets(b *testing.B, rounds []resetRound) {
	var up, reset, down time.Duration
	ratios := make([]float64, len(rounds))
	for i, r := range rounds {
		up, reset, down = up+r.up, reset+r.reset, down+r.down
		ratios[i] = r.ratio()
	}
	n := float64(len(rounds))
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	slices.Sort(ratios)
	b.ReportMetric(ms(up), "up-ms")
	b.ReportMetric(ms(reset), "reset-ms")
	b.ReportMetric(ms(down), "down-ms")
	b.ReportMetric(float64(reset)/float64(up+down), "reset/(up+down)")
	b.ReportMetric(ratios[len(ratios)/2], "median-round-ratio")
	b.ReportMetric(ratios[len(ratios)-1], "worst-round-ratio")
	b.ReportMetric(0, "ns/op")
}
