package mount

import "testing"

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/run/netns/a\040b`); got != "/run/netns/a b" {
		t.Fatalf("mountinfo escape: %q", got)
	}
}
