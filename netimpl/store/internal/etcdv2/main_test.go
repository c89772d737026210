package etcdv2

import (
	"testing"

	"github.com/nslab/nslab/etcdmember/etcdtest"
	"github.com/nslab/nslab/netns/nstest"
)

// prefix marks every namespace these tests make, so TestMain can prove
// none is left behind.
var prefix = nstest.Prefix("ev2")

func TestMain(m *testing.M) { nstest.Main(m, prefix, etcdtest.Cleanup) }
