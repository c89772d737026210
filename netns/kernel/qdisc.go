package kernel

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
)

// Qdisc is one queueing discipline of a link (`tc qdisc`).
type Qdisc struct {
	Dev  string `json:"dev"`
	Kind string `json:"kind"` // tbf, htb, ingress, noqueue, ...
	// Handle and Parent as tc writes them: "8001:", "root", "ffff:fff1".
	Handle string `json:"handle"`
	Parent string `json:"parent"`
}

func (q Qdisc) String() string {
	return fmt.Sprintf("%s %s handle %s parent %s", q.Dev, q.Kind, q.Handle, q.Parent)
}

// Qdiscs dumps the queueing disciplines of every link in the namespace at
// ns, sorted by link and parent.
func Qdiscs(ns string) ([]Qdisc, error) {
	return read(ns, func(v *view) ([]Qdisc, error) {
		qs, err := v.h.QdiscList(nil)
		if err != nil {
			return nil, fmt.Errorf("%s: qdiscs: %w", ns, err)
		}
		out := make([]Qdisc, 0, len(qs))
		for _, q := range qs {
			a := q.Attrs()
			out = append(out, Qdisc{Dev: v.names[a.LinkIndex], Kind: q.Type(), Handle: handleString(a.Handle), Parent: handleString(a.Parent)})
		}
		slices.SortFunc(out, func(a, b Qdisc) int {
			return cmp.Or(strings.Compare(a.Dev, b.Dev), strings.Compare(a.Parent, b.Parent))
		})
		return out, nil
	})
}

func handleString(h uint32) string {
	switch h {
	case netlink.HANDLE_ROOT:
		return "root"
	case netlink.HANDLE_NONE:
		return "none"
	}
	return netlink.HandleStr(h)
}
