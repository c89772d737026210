// Command specctx makes Ginkgo spec files take their nodes' contexts, the
// one mechanical change that lets a NodeTimeout or Ctrl-C cancel what a
// spec waits on:
//
//	go run ./scenarios/internal/specctx scenarios/e*.go
//
// In each file, every It, BeforeEach, JustBeforeEach, AfterEach and
// JustAfterEach whose body takes no arguments gets `ctx SpecContext` (named
// nodeCtx when the body declares a ctx of its own) and, unless it has a
// NodeTimeout or SpecTimeout, NodeTimeout(specTimeout) (It) or
// NodeTimeout(setupTimeout) (the others). Inside those bodies, except in
// DeferCleanup functions (which run after the node), context.Background()
// becomes that context (`ctx := context.Background()` goes) and
// contextWithTimeout() context.WithTimeout(ctx, StepTimeout); elsewhere in
// the file context.Background() becomes NodeContext(). The context import
// follows.
// A file is rewritten in place and gofmt'ed; its name is printed when it
// changed.
package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"strconv"
)

var timeouts = map[string]string{
	"It": "specTimeout", "BeforeEach": "setupTimeout", "JustBeforeEach": "setupTimeout",
	"AfterEach": "setupTimeout", "JustAfterEach": "setupTimeout",
}

func main() {
	rc := 0
	for _, f := range os.Args[1:] {
		if err := rewrite(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			rc = 1
		}
	}
	os.Exit(rc)
}

func rewrite(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		return err
	}
	inNode := map[*ast.FuncLit]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			if fl := nodeBody(call); fl != nil {
				takeContext(call, fl)
				inNode[fl] = true
			}
		}
		return true
	})
	outside(f)
	fixImport(f)
	var buf bytes.Buffer
	if err := format.Node(&buf, fset, f); err != nil {
		return err
	}
	out, err := format.Source(buf.Bytes())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !bytes.Equal(out, src) {
		fmt.Println(path)
		return os.WriteFile(path, out, 0o644)
	}
	return nil
}

// nodeBody is the argument-less body of a setup or subject node.
func nodeBody(call *ast.CallExpr) *ast.FuncLit {
	id, ok := call.Fun.(*ast.Ident)
	if !ok || timeouts[id.Name] == "" {
		return nil
	}
	for i := len(call.Args) - 1; i >= 0; i-- {
		if fl, ok := call.Args[i].(*ast.FuncLit); ok {
			if len(fl.Type.Params.List) == 0 {
				return fl
			}
			return nil
		}
	}
	return nil
}

// takeContext gives the node its context and a timeout, and hands the
// context to what its body runs.
func takeContext(call *ast.CallExpr, fl *ast.FuncLit) {
	name := "ctx"
	if declaresCtx(fl.Body) {
		name = "nodeCtx"
	}
	fl.Type.Params.List = []*ast.Field{{Names: []*ast.Ident{ast.NewIdent(name)}, Type: ast.NewIdent("SpecContext")}}
	if !hasTimeout(call) {
		// Placed at the body's end, so that no comment after the call
		// moves into it.
		end := fl.End()
		call.Args = append(call.Args, &ast.CallExpr{Fun: &ast.Ident{Name: "NodeTimeout", NamePos: end}, Lparen: end, Rparen: end,
			Args: []ast.Expr{&ast.Ident{Name: timeouts[call.Fun.(*ast.Ident).Name], NamePos: end}}})
	}
	if name == "ctx" {
		dropCtxBackground(fl.Body)
	}
	replace(fl.Body, func(c *ast.CallExpr) ast.Expr {
		switch {
		case isSel(c, "context", "Background"):
			return ast.NewIdent(name)
		case isIdentCall(c, "contextWithTimeout"):
			return &ast.CallExpr{Fun: &ast.SelectorExpr{X: ast.NewIdent("context"), Sel: ast.NewIdent("WithTimeout")},
				Args: []ast.Expr{ast.NewIdent(name), ast.NewIdent("StepTimeout")}}
		}
		return nil
	}, true)
}

// outside turns context.Background() outside node bodies (which now have
// ctx) into the running node's context.
func outside(f *ast.File) {
	replace(f, func(c *ast.CallExpr) ast.Expr {
		if isSel(c, "context", "Background") {
			return &ast.CallExpr{Fun: ast.NewIdent("NodeContext")}
		}
		return nil
	}, false)
}

// replace swaps the calls fn has a replacement for, below n. Within a node
// body (body true) it leaves DeferCleanup's functions alone; outside
// (body false) it leaves node bodies alone, which already have ctx.
func replace(n ast.Node, fn func(*ast.CallExpr) ast.Expr, body bool) {
	ast.Inspect(n, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if isIdentCall(c, "DeferCleanup") && body {
				return false
			}
			if !body && hasCtxParam(c) {
				return false
			}
			for i, a := range c.Args {
				if ac, ok := a.(*ast.CallExpr); ok {
					if r := fn(ac); r != nil {
						c.Args[i] = r
					}
				}
			}
		}
		swapIn(n, fn)
		return true
	})
}

// swapIn replaces calls held by statements and expressions other than
// call arguments (assignments, returns, declarations, selectors).
func swapIn(n ast.Node, fn func(*ast.CallExpr) ast.Expr) {
	try := func(e *ast.Expr) {
		if c, ok := (*e).(*ast.CallExpr); ok {
			if r := fn(c); r != nil {
				*e = r
			}
		}
	}
	switch v := n.(type) {
	case *ast.AssignStmt:
		for i := range v.Rhs {
			try(&v.Rhs[i])
		}
	case *ast.ReturnStmt:
		for i := range v.Results {
			try(&v.Results[i])
		}
	case *ast.ValueSpec:
		for i := range v.Values {
			try(&v.Values[i])
		}
	case *ast.KeyValueExpr:
		try(&v.Value)
	case *ast.SelectorExpr:
		try(&v.X)
	}
}

// hasCtxParam says whether c is a node call whose body already takes ctx.
func hasCtxParam(c *ast.CallExpr) bool {
	id, ok := c.Fun.(*ast.Ident)
	if !ok || timeouts[id.Name] == "" {
		return false
	}
	for _, a := range c.Args {
		if fl, ok := a.(*ast.FuncLit); ok && len(fl.Type.Params.List) > 0 {
			return true
		}
	}
	return false
}

// dropCtxBackground removes `ctx := context.Background()` from the top
// of a body: the node's ctx is that context now.
func dropCtxBackground(b *ast.BlockStmt) {
	var keep []ast.Stmt
	for _, s := range b.List {
		if a, ok := s.(*ast.AssignStmt); ok && a.Tok == token.DEFINE && len(a.Lhs) == 1 && len(a.Rhs) == 1 && isIdent(a.Lhs[0], "ctx") {
			if c, ok := a.Rhs[0].(*ast.CallExpr); ok && isSel(c, "context", "Background") {
				continue
			}
		}
		keep = append(keep, s)
	}
	b.List = keep
}

// declaresCtx says whether the body declares a ctx of its own anywhere
// (`ctx, cancel := ...`) other than `ctx := context.Background()`, which
// the node's context replaces.
func declaresCtx(b *ast.BlockStmt) bool {
	found := false
	ast.Inspect(b, func(n ast.Node) bool {
		a, ok := n.(*ast.AssignStmt)
		if !ok || a.Tok != token.DEFINE {
			return !found
		}
		for i, l := range a.Lhs {
			if !isIdent(l, "ctx") {
				continue
			}
			if c, ok := a.Rhs[min(i, len(a.Rhs)-1)].(*ast.CallExpr); ok && len(a.Lhs) == 1 && isSel(c, "context", "Background") {
				continue
			}
			found = true
		}
		return !found
	})
	return found
}

func hasTimeout(call *ast.CallExpr) bool {
	for _, a := range call.Args {
		if c, ok := a.(*ast.CallExpr); ok && (isIdentCall(c, "NodeTimeout") || isIdentCall(c, "SpecTimeout")) {
			return true
		}
	}
	return false
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func isIdentCall(c *ast.CallExpr, name string) bool { return isIdent(c.Fun, name) }

func isSel(c *ast.CallExpr, pkg, name string) bool {
	s, ok := c.Fun.(*ast.SelectorExpr)
	return ok && isIdent(s.X, pkg) && s.Sel.Name == name && len(c.Args) == 0
}

// fixImport keeps the context import exactly when the file uses it.
func fixImport(f *ast.File) {
	used := false
	ast.Inspect(f, func(n ast.Node) bool {
		if s, ok := n.(*ast.SelectorExpr); ok && isIdent(s.X, "context") {
			used = true
		}
		return !used
	})
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.IMPORT {
			continue
		}
		has := -1
		for i, s := range g.Specs {
			if p, _ := strconv.Unquote(s.(*ast.ImportSpec).Path.Value); p == "context" && s.(*ast.ImportSpec).Name == nil {
				has = i
			}
		}
		switch {
		case used && has < 0:
			g.Specs = append([]ast.Spec{&ast.ImportSpec{Path: &ast.BasicLit{Kind: token.STRING, Value: `"context"`}}}, g.Specs...)
			if !g.Lparen.IsValid() {
				g.Lparen = g.Pos()
			}
		case !used && has >= 0:
			g.Specs = append(g.Specs[:has], g.Specs[has+1:]...)
		}
		return
	}
}
