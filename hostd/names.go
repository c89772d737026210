package hostd

import (
	"crypto/rand"
	"math/big"
	"regexp"
)

// validName is Docker's rule for container names.
var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Docker names unnamed containers adjective_scientist; a shorter list than
// Docker's namesgenerator serves the same purpose.
var (
	nameLeft = []string{
		"admiring", "agitated", "amazing", "angry", "awesome", "brave", "busy", "clever",
		"cool", "dazzling", "determined", "eager", "ecstatic", "elegant", "epic", "festive",
		"focused", "friendly", "funny", "gallant", "gifted", "happy", "hopeful", "jolly",
		"keen", "kind", "laughing", "lucid", "modest", "nice", "optimistic", "peaceful",
		"practical", "quirky", "relaxed", "serene", "sharp", "stoic", "tender", "vigilant",
	}
	nameRight = []string{
		"albattani", "babbage", "bardeen", "bell", "bohr", "cerf", "curie", "darwin",
		"dijkstra", "einstein", "euclid", "euler", "fermat", "feynman", "galileo", "gauss",
		"hopper", "hypatia", "kepler", "knuth", "lamport", "liskov", "lovelace", "maxwell",
		"meitner", "newton", "noether", "pascal", "pike", "ritchie", "shannon", "thompson",
		"tesla", "torvalds", "turing", "wescoff", "wilson", "wing", "yalow", "zhukovsky",
	}
)

func randIndex(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic("hostd: crypto/rand: " + err.Error())
	}
	return int(v.Int64())
}

// randomName returns a Docker-style name; retry adds a digit as Docker does
// after a collision.
func randomName(retry int) string {
	name := nameLeft[randIndex(len(nameLeft))] + "_" + nameRight[randIndex(len(nameRight))]
	if retry > 0 {
		name += string(rune('0' + randIndex(10)))
	}
	return name
}
