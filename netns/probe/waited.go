package probe

import (
	"sync/atomic"
	"time"
)

// The time this process's probes have spent, summed: where a test run's
// waiting goes (see Waited).
var answered, silent atomic.Int64

// Waited reports how long this process's probes have taken so far, summed
// over all of them (probes that run at once add up): those that got their
// answer, and those whose whole deadline passed in silence — what checking
// that a path stays closed costs. A test run reads it before and after a
// test to tell that test's share.
func Waited() (answer, silence time.Duration) {
	return time.Duration(answered.Load()), time.Duration(silent.Load())
}

func waitedForAnswer(start time.Time) { answered.Add(int64(time.Since(start))) }

func waitedInSilence(start time.Time) { silent.Add(int64(time.Since(start))) }
