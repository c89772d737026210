package kernel

import "testing"

// mountinfo writes a space in a path as \040: a pin named "a b" reads back
// as its path.
func TestUnescapeMountinfo(t *testing.T) {
	if got := unescape(`/run/netns/a\040b`); got != "/run/netns/a b" {
		t.Fatalf("mountinfo escape: %q", got)
	}
}
