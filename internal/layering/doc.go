// Package layering holds the checks that keep the codebase's shape as
// ARCHITECTURE.md states it: no package imports one of a higher layer
// (tests included), and no function outside tests runs over a screen. The
// checks are its tests; the layers are in layers.go.
package layering
