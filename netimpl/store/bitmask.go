package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
)

// bitmask is libnetwork's bitseq, the value of Docker's address and VXLAN
// id allocations in the store: a long bitmask (bit i taken: ordinal i,
// an address's offset in its subnet or a VNI less 256) kept as runs of
// identical 32-bit blocks, the first ordinal the block's highest bit. It is
// stored as {"id": ..., "sequence": base64 of the number of bits, the
// number free, then each run's block (4 bytes) and count (8 bytes), big
// endian}. Runs stay merged, no two neighbours alike, so that the same
// bits give the same value Docker writes.
type bitmask struct {
	id         string
	bits, free uint64
	runs       []run
}

type run struct {
	block uint32
	count uint64
}

const (
	blockBits = 32
	fullBlock = ^uint32(0)
)

// errBitTaken is a set of a bit that is set.
var errBitTaken = errors.New("requested bit is already allocated")

// newBitmask is an empty bitmask of n bits.
func newBitmask(id string, n uint64) *bitmask {
	return &bitmask{id: id, bits: n, free: n, runs: []run{{count: (n + blockBits - 1) / blockBits}}}
}

type bitmaskJSON struct {
	ID       string `json:"id"`
	Sequence []byte `json:"sequence"`
}

func (b *bitmask) encode() []byte {
	seq := make([]byte, 16, 16+12*len(b.runs))
	binary.BigEndian.PutUint64(seq[0:], b.bits)
	binary.BigEndian.PutUint64(seq[8:], b.free)
	for _, r := range b.runs {
		seq = binary.BigEndian.AppendUint32(seq, r.block)
		seq = binary.BigEndian.AppendUint64(seq, r.count)
	}
	out, _ := json.Marshal(bitmaskJSON{ID: b.id, Sequence: seq})
	return out
}

func decodeBitmask(data []byte) (*bitmask, error) {
	var j bitmaskJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, err
	}
	seq := j.Sequence
	if len(seq) < 16+12 || (len(seq)-16)%12 != 0 {
		return nil, fmt.Errorf("bitmask %s: sequence of %d bytes", j.ID, len(seq))
	}
	b := &bitmask{id: j.ID, bits: binary.BigEndian.Uint64(seq[0:]), free: binary.BigEndian.Uint64(seq[8:])}
	var blocks uint64
	for p := seq[16:]; len(p) > 0; p = p[12:] {
		r := run{block: binary.BigEndian.Uint32(p), count: binary.BigEndian.Uint64(p[4:])}
		blocks += r.count
		b.runs = append(b.runs, r)
	}
	if blocks != (b.bits+blockBits-1)/blockBits || b.free > b.bits {
		return nil, fmt.Errorf("bitmask %s: %d blocks for %d bits, %d free", j.ID, blocks, b.bits, b.free)
	}
	return b, nil
}

// locate returns the run holding block bi and the index of the run's
// first block.
func (b *bitmask) locate(bi uint64) (int, uint64) {
	var first uint64
	for i, r := range b.runs {
		if bi < first+r.count {
			return i, first
		}
		first += r.count
	}
	return -1, 0
}

func mask(o uint64) uint32 { return uint32(1) << (blockBits - 1 - o%blockBits) }

func (b *bitmask) isSet(o uint64) bool {
	if o >= b.bits {
		return false
	}
	i, _ := b.locate(o / blockBits)
	return b.runs[i].block&mask(o) != 0
}

// set takes bit o; errBitTaken if it is taken.
func (b *bitmask) set(o uint64) error {
	if o >= b.bits {
		return fmt.Errorf("bit %d of %d: out of range", o, b.bits)
	}
	if b.isSet(o) {
		return errBitTaken
	}
	b.change(o, true)
	return nil
}

// unset frees bit o; a free bit stays free.
func (b *bitmask) unset(o uint64) {
	if o < b.bits && b.isSet(o) {
		b.change(o, false)
	}
}

// change flips bit o: its block leaves its run, alone, between what is
// left of the run before and after it; then alike neighbours merge.
func (b *bitmask) change(o uint64, taken bool) {
	i, first := b.locate(o / blockBits)
	r := b.runs[i]
	before := o/blockBits - first
	blk := r.block ^ mask(o)
	parts := []run{{r.block, before}, {blk, 1}, {r.block, r.count - before - 1}}
	runs := append(append(append([]run{}, b.runs[:i]...), parts...), b.runs[i+1:]...)
	b.runs = b.runs[:0]
	for _, r := range runs {
		switch {
		case r.count == 0:
		case len(b.runs) > 0 && b.runs[len(b.runs)-1].block == r.block:
			b.runs[len(b.runs)-1].count += r.count
		default:
			b.runs = append(b.runs, r)
		}
	}
	if taken {
		b.free--
	} else {
		b.free++
	}
}

// firstFree is the lowest free ordinal in [from, end], or, when there is
// none and from is past start, in [start, end]: libnetwork looks from its
// last pick on (a serial allocation) and then from the start again.
func (b *bitmask) firstFree(start, end, from uint64) (uint64, bool) {
	end = min(end, b.bits-1)
	if from > start {
		if o, ok := b.freeIn(from, end); ok {
			return o, true
		}
	}
	return b.freeIn(start, end)
}

func (b *bitmask) freeIn(lo, hi uint64) (uint64, bool) {
	if lo > hi || b.free == 0 {
		return 0, false
	}
	i, first := b.locate(lo / blockBits)
	for o := lo; i >= 0 && i < len(b.runs) && o <= hi; i++ {
		r := b.runs[i]
		runEnd := (first + r.count) * blockBits // the ordinal after the run
		for r.block != fullBlock && o < runEnd && o <= hi {
			// The free bits of this block at or after o's position.
			free := ^r.block & (fullBlock >> (o % blockBits))
			if free != 0 {
				c := o - o%blockBits + uint64(bits.LeadingZeros32(free))
				return c, c <= hi
			}
			o += blockBits - o%blockBits
		}
		o = max(o, runEnd)
		first += r.count
	}
	return 0, false
}
