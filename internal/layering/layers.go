package layering

import "strings"

// Module is the module path every package below is relative to.
const Module = "github.com/nslab/nslab"

// A Layer is a set of packages that may import each other and any lower
// layer, never a higher one.
type Layer struct {
	Name string
	// Packages are paths relative to the module: a package belongs to the
	// layer whose entry is the longest prefix of its path ("netns" holds
	// netns/probe too).
	Packages []string
}

// Layers are the module's layers, lowest first; ARCHITECTURE.md explains
// each.
var Layers = []Layer{
	{"base", []string{"netns", "etcdmember", "hostdconfig", "undo", "internal/rootns", "internal/layering", "internal/yamldoc", "internal/srcroot"}},
	{"engine", []string{"netimpl"}},
	{"daemon", []string{"hostd", "hostd/api", "hostd/api/types", "hostd/filters", "hostd/events", "hostd/errdefs", "hostd/proc", "hostd/mount", "hostd/archive", "hostd/volume", "hostd/image", "hostd/rootfs", "hostd/oci"}},
	{"lab", []string{"lab"}},
	{"public test API", []string{"labtest", "check"}},
	{"specs", []string{"scenarios", "suites", "parity", "transcripts", "bench"}},
	{"binaries", []string{"cmd"}},
}

// EngineSurface are the engine packages the daemon, the lab and the public
// test API may import: the engine's API. Its drivers, IPAM, firewall, DNS,
// port mapping and store are the engine's own business. Specs may reach
// further (a kernel probe of a driver, a protocol constant).
var EngineSurface = []string{"netimpl", "netimpl/controller"}

// Allowed are imports that the layering forbids, each with why it is
// still there; the list only shrinks, and today it is empty.
var Allowed = map[string]string{}

// LayerOf returns the index in Layers of the layer of pkg (relative to the
// module), or -1 when no layer holds it.
func LayerOf(pkg string) int {
	best, bestLen := -1, -1
	for i, l := range Layers {
		for _, p := range l.Packages {
			if (pkg == p || strings.HasPrefix(pkg, p+"/")) && len(p) > bestLen {
				best, bestLen = i, len(p)
			}
		}
	}
	return best
}

// Check says what is wrong with from importing to (both relative to the
// module), or "" when the import keeps the layering.
func Check(from, to string) string {
	lf, lt := LayerOf(from), LayerOf(to)
	switch {
	case lf < 0:
		return "package " + from + " is in no layer: add it to layering.Layers and ARCHITECTURE.md"
	case lt < 0:
		return "package " + to + " is in no layer: add it to layering.Layers and ARCHITECTURE.md"
	case lt > lf:
		return from + " (" + Layers[lf].Name + ") imports " + to + " (" + Layers[lt].Name + "), a higher layer"
	case Layers[lt].Name == "engine" && behindSurface[Layers[lf].Name] && !inSurface(to):
		return from + " (" + Layers[lf].Name + ") imports " + to + ", a part of the engine behind its API (" + strings.Join(EngineSurface, ", ") + ")"
	}
	return ""
}

// behindSurface are the layers that see the engine only through its API.
var behindSurface = map[string]bool{"daemon": true, "lab": true, "public test API": true}

func inSurface(pkg string) bool {
	for _, p := range EngineSurface {
		if pkg == p {
			return true
		}
	}
	return false
}
