package etcdmember_test

import (
	"testing"

	"github.com/nslab/nslab/netns/nstest"
)

// prefix marks every namespace these tests make, so TestMain can prove
// none is left behind.
var prefix = nstest.Prefix("etm")

func TestMain(m *testing.M) { nstest.Main(m, prefix, programs.Cleanup) }
