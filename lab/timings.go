package lab

import (
	"sort"
	"sync"
	"time"
)

// timings adds up the time Up and Down spend in each of their steps, for
// the benchmarks that say where a lab's time goes. Steps done by parallel
// workers (one host's namespace, its veth) add up across workers, so their
// sum can exceed the wall-clock time of the stage that holds them. A nil
// *timings records nothing: labs built outside those benchmarks pay one
// comparison per step.
type timings struct {
	mu    sync.Mutex
	sum   map[string]time.Duration
	count map[string]int
}

func newTimings() *timings {
	return &timings{sum: map[string]time.Duration{}, count: map[string]int{}}
}

// since records the time from t0 to now under step.
func (t *timings) since(step string, t0 time.Time) {
	if t == nil {
		return
	}
	d := time.Since(t0)
	t.mu.Lock()
	t.sum[step] += d
	t.count[step]++
	t.mu.Unlock()
}

// step is one line of a breakdown: a step's total time and how often it ran.
type step struct {
	Name  string
	Total time.Duration
	Count int
}

// steps returns every recorded step, by name.
func (t *timings) steps() []step {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]step, 0, len(t.sum))
	for name, d := range t.sum {
		out = append(out, step{Name: name, Total: d, Count: t.count[name]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
