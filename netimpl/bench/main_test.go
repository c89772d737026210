package bench_test

import (
	"testing"

	"github.com/nslab/nslab/netns/nstest"
)

// prefix marks every namespace the benchmarks make, so TestMain can prove
// none is left behind.
var prefix = nstest.Prefix("nbn")

func TestMain(m *testing.M) { nstest.Main(m, prefix) }
