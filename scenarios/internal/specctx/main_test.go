package main

import (
	"os"
	"path/filepath"
	"testing"
)

const before = `package scenarios

import (
	"context"
	"time"
)

var _ = Describe("x", func() {
	BeforeEach(func() {
		ctx, cancel := contextWithTimeout()
		defer cancel()
		use(ctx)
	})
	It("a", func() {
		ctx := context.Background()
		probe(ctx)
		DeferCleanup(func() { probe(context.Background()) })
	})
	It("b", func(ctx SpecContext) {
		probe(ctx)
	}, NodeTimeout(time.Second))
})

// helper is called from specs.
func helper() { probe(context.Background()) }
`

const after = `package scenarios

import (
	"context"
	"time"
)

var _ = Describe("x", func() {
	BeforeEach(func(nodeCtx SpecContext) {
		ctx, cancel := context.WithTimeout(nodeCtx, StepTimeout)
		defer cancel()
		use(ctx)
	}, NodeTimeout(setupTimeout))
	It("a", func(ctx SpecContext) {

		probe(ctx)
		DeferCleanup(func() { probe(context.Background()) })
	}, NodeTimeout(specTimeout))
	It("b", func(ctx SpecContext) {
		probe(ctx)
	}, NodeTimeout(time.Second))
})

// helper is called from specs.
func helper() { probe(NodeContext()) }
`

// The rewrite of a spec file: node bodies take their context and a
// timeout, a body's own ctx keeps its name, cleanups and nodes that had a
// context are left alone, helpers take the running node's context.
func TestRewrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "spec.go")
	if err := os.WriteFile(p, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rewrite(p); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != after {
		t.Fatalf("got:\n%s", got)
	}
	if err := rewrite(p); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(p); string(again) != after {
		t.Fatalf("a second run changed it again:\n%s", again)
	}
}
