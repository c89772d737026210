package labtest

import (
	"context"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
)

// Ginkgo gives each node (BeforeEach, It, DeferCleanup...) a context that
// it cancels at the node's NodeTimeout or SpecTimeout and on an interrupt
// (Ctrl-C); a helper that is handed no context cannot see it. GinkgoContext
// keeps the running node's context where the helpers find it: Ginkgo runs
// one node at a time in a process.

// GinkgoContext is a Ginkgo decorator for RunSpecs (or a container): the
// helpers of this package called inside a node, and the labs Up brings up
// there, stop when the node's context ends.
//
//	RunSpecs(t, "my suite", labtest.GinkgoContext)
var GinkgoContext = ginkgo.AroundNode(func(ctx context.Context, body func(context.Context)) {
	restore := enterNode(ctx)
	defer restore()
	body(ctx)
})

var node struct {
	sync.Mutex
	ctx context.Context
}

// enterNode makes ctx the running node's context until restore.
func enterNode(ctx context.Context) (restore func()) {
	node.Lock()
	defer node.Unlock()
	prev := node.ctx
	node.ctx = ctx
	return func() {
		node.Lock()
		defer node.Unlock()
		node.ctx = prev
	}
}

func nodeContext() context.Context {
	node.Lock()
	defer node.Unlock()
	return node.ctx
}

// NodeContext returns the context of the Ginkgo node running now (see
// GinkgoContext), or context.Background() outside one: for code that runs
// inside a spec but is handed no context.
func NodeContext() context.Context {
	if n := nodeContext(); n != nil {
		return n
	}
	return context.Background()
}

// StepContext returns a context for one step of a test: it ends after d, or
// with the Ginkgo node the step runs in (see GinkgoContext).
func StepContext(d time.Duration) (context.Context, context.CancelFunc) {
	return stepContext(context.Background(), d)
}

// stepContext is parent bounded by d and ended with the running Ginkgo
// node, if any.
func stepContext(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(parent, d)
	n := nodeContext()
	if n == nil {
		return ctx, cancel
	}
	stop := context.AfterFunc(n, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// step is a context for one helper step of the lab's test.
func (l *Lab) step(d time.Duration) (context.Context, context.CancelFunc) {
	return stepContext(l.ctx, d)
}
