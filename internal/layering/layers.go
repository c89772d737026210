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
	{"base", []string{"netns", "etcdmember", "hostdconfig", "undo", "internal/rootns", "internal/layering", "internal/yamldoc"}},
	{"engine", []string{"netimpl"}},
	{"daemon", []string{"hostd"}},
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

// Allowed are today's imports that the layering forbids, each with why it
// is still there. The lead removes them as their reason goes.
var Allowed = map[string]string{
	// hostd still holds half of libnetwork's controller (building the
	// drivers, the network half of a container's start and stop, port
	// publishing, links, the cluster store's watch, docker_gwbridge):
	// until it moves into the engine (issue 12, point 1) hostd imports the
	// engine's parts directly.
	"hostd -> netimpl/bridge":   "the network controller is still in hostd",
	"hostd -> netimpl/dns":      "the network controller is still in hostd",
	"hostd -> netimpl/firewall": "the network controller is still in hostd",
	"hostd -> netimpl/gre":      "the network controller is still in hostd",
	"hostd -> netimpl/host":     "the network controller is still in hostd",
	"hostd -> netimpl/ipam":     "the network controller is still in hostd",
	"hostd -> netimpl/macvlan":  "the network controller is still in hostd",
	"hostd -> netimpl/null":     "the network controller is still in hostd",
	"hostd -> netimpl/overlay":  "the network controller is still in hostd",
	"hostd -> netimpl/portmap":  "the network controller is still in hostd",
	"hostd -> netimpl/store":    "the network controller is still in hostd",
}

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
