package labtest

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/netns/capture"
)

// Frame is one captured frame as the specs look at it: its Ethernet and
// IP headers and, for a tunnel (GRE, VXLAN), the frame it carries.
type Frame = capture.Frame

// StartCapture records the packets of iface in the namespace at ns until
// StopCapture or the end of the spec.
func StartCapture(ns, iface string) *capture.Capture {
	GinkgoHelper()
	c, err := capture.Start(ns, iface, capture.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { c.Stop() })
	return c
}

// StopCapture ends a capture a moment after the traffic it waits for (a
// reply's frames may still be on their way) and decodes what it saw.
func StopCapture(c *capture.Capture) []Frame {
	GinkgoHelper()
	time.Sleep(100 * time.Millisecond)
	pkts, err := c.Stop()
	Expect(err).NotTo(HaveOccurred())
	out := make([]Frame, 0, len(pkts))
	for _, p := range pkts {
		out = append(out, capture.Summarize(p))
	}
	return out
}
