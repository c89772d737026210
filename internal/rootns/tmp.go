package rootns

import (
	"path/filepath"
	"slices"
)

// MachineTmp is the machine's temporary directory: where os.MkdirTemp
// writes without TMPDIR, and where a daemon started without TMPDIR (a
// dockerd's containerd) writes its dumps.
const MachineTmp = "/tmp"

// tmpNames are the names of what nslab's runs make in /tmp: the temporary
// directories of its tests and suites (nslab-*, the helper programs the
// package tests build, gexec's builds), containerd's stack dumps, and
// mc.txt, seen after full runs of an earlier tree.
var tmpNames = []string{
	"*nslab*", "etcdtest-bin-*", "etcdmember-bin-*", "hostd-test-bin-*",
	"gexec_artifacts*", "containerd.*.stacks.log", "mc.txt",
}

// TmpEntries lists what of nslab's is in the machine's /tmp, sorted, but
// for the paths in keep (what a run leaves there on purpose, such as the
// parity observations). Taken before and after a whole run, TmpLeft
// tells what the run left. The mount table is Take's "mounts".
func TmpEntries(keep ...string) []string { return tmpEntries(MachineTmp, keep) }

func tmpEntries(dir string, keep []string) []string {
	var out []string
	for _, pat := range tmpNames {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range m {
			if !slices.Contains(keep, p) && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TmpLeft is what appeared between two TmpEntries: left by the run, or by
// another run on the same machine. What disappeared is not reported; it
// was someone's to remove.
func TmpLeft(before, after []string) []string {
	var left []string
	for _, p := range after {
		if !slices.Contains(before, p) {
			left = append(left, p)
		}
	}
	return left
}

// Baseline is what a whole suite is compared with at its end: the root
// namespace (its mount table included), nslab's entries in the machine's
// /tmp and the trees of the image store's layers.
type Baseline struct {
	ns     Snapshot
	tmp    []string
	keep   []string
	layers map[string]string
}

// TakeBaseline takes them all; keep is as for TmpEntries.
func TakeBaseline(keep ...string) (*Baseline, error) {
	ns, err := Take()
	if err != nil {
		return nil, err
	}
	return &Baseline{ns: ns, tmp: TmpEntries(keep...), keep: keep, layers: layerDigests(ImageStore())}, nil
}

// Changes lists what differs now: Diff's lines, then "tmp: + PATH" for
// each entry left in /tmp, then every layer of the image store whose tree
// changed. Empty means the machine is as it was.
func (b *Baseline) Changes() ([]string, error) {
	now, err := Take()
	if err != nil {
		return nil, err
	}
	d := Diff(b.ns, now)
	for _, p := range TmpLeft(b.tmp, TmpEntries(b.keep...)) {
		d = append(d, "tmp: + "+p)
	}
	return append(d, LayersChanged(b.layers, layerDigests(ImageStore()))...), nil
}
