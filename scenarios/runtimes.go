package scenarios

import (
	"fmt"
	"slices"

	. "github.com/onsi/ginkgo/v2"

	"github.com/nslab/nslab/lab"
)

// LabelNativeOnly marks a spec that checks something only hostd does. On
// any other runtime it skips, printing its exercise's entry in nativeOnly.
const LabelNativeOnly = "native-only"

// nativeOnly says, per exercise, why its native-only specs cannot run on
// real Docker. Keep it short: every entry is a spec the reference suite
// does not hold hostd to.
var nativeOnly = map[string]string{
	"E16": "the /run/netns/<lab>-<host>-<container> pin is hostd's own: dockerd pins a container's namespace only under its exec root (/var/run/docker/netns/<sandbox>)",
}

var _ = BeforeEach(func() {
	if current == nil || current.Name() == lab.RuntimeHostd {
		return
	}
	r := CurrentSpecReport()
	if !slices.Contains(r.Labels(), LabelNativeOnly) {
		return
	}
	for _, l := range r.Labels() {
		if why, ok := nativeOnly[l]; ok {
			Skip(fmt.Sprintf("%s on %s: %s", LabelNativeOnly, current.Name(), why))
		}
	}
	Fail(fmt.Sprintf("spec %q is labelled %s but its exercise has no reason in scenarios.nativeOnly (labels %v)", r.FullText(), LabelNativeOnly, r.Labels()))
})
