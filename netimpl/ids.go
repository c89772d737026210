package netimpl

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// NewID returns 64 random hex digits, the shape of every Docker object id.
func NewID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux (getrandom); if it ever did,
		// handing out predictable ids would be worse than stopping.
		panic("netimpl: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// StableID derives a 64-hex id from seed and name, so that the predefined
// networks of one virtual host keep their ids across daemon restarts while
// two hosts (different seeds) still get different ones.
func StableID(seed, name string) string {
	sum := sha256.Sum256([]byte("nslab network\x00" + seed + "\x00" + name))
	return hex.EncodeToString(sum[:])
}
