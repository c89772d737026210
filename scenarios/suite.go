package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nslab/nslab/internal/rootns"
	"github.com/nslab/nslab/labtest"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/parity"
)

// A SuiteRun is what a suite sets up around its specs, shared by its
// parallel processes: the pool the specs take their labs from, a TMPDIR of
// the run's own, the parity observations' directory, and (in the first
// process) the machine as it was before, to compare with after.
//
// The suite's first process calls StartSuite in SynchronizedBeforeSuite's
// first function and hands what it returns to every process, which calls
// JoinSuite in the second; after all specs, the first process calls
// EndSuite (SynchronizedAfterSuite's second function).
type SuiteRun struct {
	Pool      *labtest.Pool `json:"-"`
	PoolDir   string        `json:"pool"`
	Tmp       string        `json:"tmp"`
	ParityDir string        `json:"parity"`
	Runtime   string        `json:"runtime"`
	// Extra is what the suite hands its processes beside (programs...).
	Extra []string `json:"extra,omitempty"`
}

var (
	// before is the machine before the run (first process only).
	before *rootns.Baseline
	// run is this process's run (JoinSuite).
	run *SuiteRun
)

// StartSuite starts a run of runtime's suite: its TMPDIR, set at once for
// this process (the suite's test directories and helper builds go there,
// not into the machine's /tmp), the record of the machine, the pool, and
// the parity observations of runtime started afresh. It returns what to
// hand every process's JoinSuite (which finds extra in SuiteRun.Extra).
func StartSuite(runtime string, extra ...string) ([]byte, error) {
	r := &SuiteRun{ParityDir: parity.DefaultDir(), Runtime: runtime, Extra: extra}
	var err error
	if r.Tmp, err = os.MkdirTemp("", "nslab-suite-"+runtime+"-"); err != nil {
		return nil, err
	}
	os.Setenv("TMPDIR", r.Tmp)
	// `ip netns add` makes /run/netns a shared mount point the first time
	// it runs after boot; make it before the snapshot so it is not counted.
	if err := netns.EnsureRunDir(); err != nil {
		return nil, err
	}
	if before, err = rootns.TakeBaseline(r.ParityDir, r.Tmp); err != nil {
		return nil, err
	}
	if err := parity.StartRun(r.ParityDir, runtime); err != nil {
		return nil, err
	}
	p, err := labtest.NewPool("")
	if err != nil {
		return nil, err
	}
	r.PoolDir = p.Dir()
	return json.Marshal(r)
}

// JoinSuite makes this process one of the run's: its TMPDIR, its pool for
// UpLab, its observations' directory. The first process joins the run it
// started too.
func JoinSuite(data []byte) (*SuiteRun, error) {
	var r SuiteRun
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("suite run: %w", err)
	}
	os.Setenv("TMPDIR", r.Tmp)
	var err error
	if r.Pool, err = labtest.OpenPool(r.PoolDir); err != nil {
		return nil, err
	}
	// A spec's lab is reset for the next only where resets of its
	// topology have proved cheaper than down and up: every reset is still
	// checked, and the [reset] specs reset whatever it costs.
	r.Pool.ChooseCheaper()
	// A lab with etcd members that no spec took for a while goes down:
	// its members would keep their heartbeat on the CPU the other specs
	// need until the run ends. Longer than a spec, so that the next spec
	// of the same topology, on any process, still finds it.
	r.Pool.IdleLimit(suiteIdleLimit)
	UsePool(r.Pool)
	RecordObservations(r.ParityDir)
	run = &r
	return &r, nil
}

// suiteIdleLimit is how long an idle lab with etcd members waits in a
// suite's pool for its next spec (labtest.Pool.IdleLimit).
const suiteIdleLimit = 20 * time.Second

// LeaveSuite ends this process's part of the run, after its last spec:
// the pool takes down no more idle labs on its behalf, and those it began
// to take down are down. Every process calls it before the first one's
// EndSuite.
func LeaveSuite() {
	if run != nil {
		run.Pool.Leave()
	}
}

// EndSuite takes down the run's labs and compares the machine with how it
// was (in the first process, which started the run): what differs and is
// the run's (named by one of its labs, or by none: rootns.Mine), and what
// the run left in its TMPDIR, are mine; changes named by other runs' labs
// and tests are foreign. The run's TMPDIR goes. A process that started no
// run has nothing to end.
func EndSuite(ctx context.Context) (mine, foreign []string, err error) {
	if before == nil || run == nil {
		return nil, nil, nil
	}
	// Every spec has recorded what it saw: the parity report may compare.
	if err := parity.FinishRun(run.ParityDir, run.Runtime); err != nil {
		return nil, nil, err
	}
	made, err := run.Pool.Made()
	if err != nil {
		return nil, nil, err
	}
	if err := run.Pool.Close(ctx); err != nil {
		return nil, nil, err
	}
	d, err := before.Changes()
	if err != nil {
		return nil, nil, err
	}
	mine, foreign = rootns.Mine(d, func(id string) bool { _, ok := slices.BinarySearch(made, id); return ok }, run.Tmp)
	left, _ := filepath.Glob(filepath.Join(run.Tmp, "*"))
	for _, p := range left {
		mine = append(mine, "tmp: + "+p)
	}
	os.RemoveAll(run.Tmp)
	return mine, foreign, nil
}

// ParityDir is where this process records the parity observations.
func ParityDir() string { return observeDir }
