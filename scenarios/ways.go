package scenarios

import (
	. "github.com/onsi/ginkgo/v2"

	. "github.com/nslab/nslab/labtest"
)

// A dockerWay drives a host's daemon: the docker CLI or the Docker API
// (labtest.Ways). The same exercise must give the same result both ways,
// since a student types the commands and a program calls the API.
type dockerWay = func(l *Lab, host string) Docker

// eachWay declares the spec text once per way (labtest.Ways), each with a
// deadline of specTimeout; spec gets the node's context and the way. The
// spec is located where the scenario called the helper that calls eachWay.
// With checksHere among the decorations, the docker CLI's spec (the first
// of labtest.Ways) is labelled "checks": it runs its exercise's checks file
// (holdsToChecksVia).
func eachWay(text string, decorations []any, spec func(ctx SpecContext, way dockerWay)) {
	for i, w := range Ways {
		args := []any{Offset(2), NodeTimeout(specTimeout)}
		for _, d := range decorations {
			if d != checksHere {
				args = append(args, d)
			} else if i == 0 {
				args = append(args, Label(LabelChecks))
			}
		}
		It(text, append(args, func(ctx SpecContext) { spec(ctx, w) })...)
	}
}

// itEachWayOwn declares a spec once per way that brings up its lab itself
// (a fresh one, or after a check that may skip it).
func itEachWayOwn(text string, spec func(ctx SpecContext, way dockerWay), decorations ...any) {
	eachWay(text, decorations, spec)
}

// itEachWay declares a spec that brings up fixture's lab and drives its
// host's daemon one way, once per way; the spec's first step says which.
func itEachWay(text, fixture, host string, body func(ctx SpecContext, l *Lab, d Docker), decorations ...any) {
	eachWay(text, decorations, func(ctx SpecContext, w dockerWay) {
		l := UpLab(fixture)
		d := w(l, host)
		By("via " + d.Via())
		body(ctx, l, d)
	})
}

// itEachWay2 is itEachWay for a spec on two hosts of the lab, both driven
// the same way.
func itEachWay2(text, fixture string, hosts [2]string, body func(ctx SpecContext, l *Lab, d1, d2 Docker), decorations ...any) {
	eachWay(text, decorations, func(ctx SpecContext, w dockerWay) {
		l := UpLab(fixture)
		d1, d2 := w(l, hosts[0]), w(l, hosts[1])
		By("via " + d1.Via())
		body(ctx, l, d1, d2)
	})
}
