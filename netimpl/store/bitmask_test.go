package store

import (
	"encoding/json"
	"testing"
)

// The bitmasks Docker 20.10 wrote in the lab (fixtures/docker-20.10/
// etcd-v2-overlay.txt) come out of the same bits, and decode to them.
func TestBitmaskAsDockerWritesIt(t *testing.T) {
	value := func(id, seq string) string { return `{"id":"` + id + `","sequence":"` + seq + `"}` }
	for _, c := range []struct {
		name string
		id   string
		bits uint64
		set  []uint64
		want string
	}{
		{"vxlan-id before the first join", "vxlan-id", 1<<24 - 256, nil, "AAAAAAD//wAAAAAAAP//AAAAAAAAAAAAAAf/+A=="},
		{"vxlan-id with 256 taken", "vxlan-id", 1<<24 - 256, []uint64{0}, "AAAAAAD//wAAAAAAAP/+/4AAAAAAAAAAAAAAAQAAAAAAAAAAAAf/9w=="},
		{"10.0.0.0/24 at create: network, broadcast, gateway", "GlobalDefault/10.0.0.0/24", 256, []uint64{0, 255, 1},
			"AAAAAAAAAQAAAAAAAAAA/cAAAAAAAAAAAAAAAQAAAAAAAAAAAAAABgAAAAEAAAAAAAAAAQ=="},
		{"10.0.0.0/24 with test1 and test2", "GlobalDefault/10.0.0.0/24", 256, []uint64{0, 255, 1, 2, 3},
			"AAAAAAAAAQAAAAAAAAAA+/AAAAAAAAAAAAAAAQAAAAAAAAAAAAAABgAAAAEAAAAAAAAAAQ=="},
		{"10.5.0.0/16 with gateway .0.254, x1 at 10.5.1.0 and x2 at 10.5.3.3", "GlobalDefault/10.5.0.0/16", 1 << 16, []uint64{0, 65535, 254, 256, 771},
			"AAAAAAABAAAAAAAAAAD/+4AAAAAAAAAAAAAAAQAAAAAAAAAAAAAABgAAAAIAAAAAAAAAAYAAAAAAAAAAAAAAAQAAAAAAAAAAAAAADxAAAAAAAAAAAAAAAQAAAAAAAAAAAAAH5gAAAAEAAAAAAAAAAQ=="},
	} {
		b := newBitmask(c.id, c.bits)
		for _, o := range c.set {
			if err := b.set(o); err != nil {
				t.Fatalf("%s: set %d: %v", c.name, o, err)
			}
		}
		if got, want := string(b.encode()), value(c.id, c.want); got != want {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, got, want)
		}
		d, err := decodeBitmask([]byte(value(c.id, c.want)))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d.free != c.bits-uint64(len(c.set)) {
			t.Errorf("%s: %d free, want %d", c.name, d.free, c.bits-uint64(len(c.set)))
		}
		for _, o := range c.set {
			if !d.isSet(o) {
				t.Errorf("%s: bit %d not set after decoding", c.name, o)
			}
		}
		// Freeing what was taken gives the empty mask back, merged.
		for _, o := range c.set {
			d.unset(o)
		}
		if got, want := string(d.encode()), string(newBitmask(c.id, c.bits).encode()); got != want {
			t.Errorf("%s: freed: %s, want %s", c.name, got, want)
		}
	}
}

// firstFree picks the lowest free bit of a range, from a cursor on and
// then from the start again, across runs and blocks.
func TestBitmaskFirstFree(t *testing.T) {
	b := newBitmask("t", 100)
	for o := range uint64(70) {
		if o != 33 {
			b.set(o)
		}
	}
	if err := b.set(5); err != errBitTaken {
		t.Errorf("set of a taken bit: %v", err)
	}
	for _, c := range []struct {
		start, end, from, want uint64
		ok                     bool
	}{
		{0, 99, 0, 33, true},
		{34, 99, 0, 70, true},
		{0, 99, 40, 70, true},
		{0, 99, 71, 71, true},
		{0, 32, 0, 0, false},
		{0, 69, 34, 33, true}, // nothing from the cursor on: from the start
		{96, 120, 0, 96, true},
	} {
		o, ok := b.firstFree(c.start, c.end, c.from)
		if ok != c.ok || (ok && o != c.want) {
			t.Errorf("firstFree(%d, %d, from %d) = %d %v, want %d %v", c.start, c.end, c.from, o, ok, c.want, c.ok)
		}
	}
	b.set(33)
	for o := uint64(70); o < 100; o++ {
		b.set(o)
	}
	if _, ok := b.firstFree(0, 99, 0); ok || b.free != 0 {
		t.Errorf("a full mask: %d free", b.free)
	}
	var j map[string]any
	if err := json.Unmarshal(b.encode(), &j); err != nil || j["id"] != "t" {
		t.Errorf("encode: %v %v", j, err)
	}
}
