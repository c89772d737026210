package hostd

import (
	"crypto/rand"
	"math/big"
	"regexp"
	"strings"

	"github.com/nslab/nslab/hostd/errdefs"
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

// NameOf is c's name for a caller that holds neither c's operation lock
// nor d.mu (a rename may change it).
func (d *Daemon) NameOf(c *Container) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return c.Name
}

// Rename gives a container a new name, as dockerd's ContainerRename: the
// checks in Docker's order and words, the name taken, the links of other
// containers to it following it (Docker's link graph holds containers, not
// names), and for a running container its networks' DNS (the controller's
// Rename). The rename event names the old name.
func (d *Daemon) Rename(ref, newName string) error {
	if ref == "" || newName == "" {
		return errdefs.BadRequest("Neither old nor new names may be empty")
	}
	c, err := d.Container(ref)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	d.mu.Lock()
	oldName := c.Name
	newName = strings.TrimPrefix(newName, "/")
	switch id, taken := d.names[newName]; {
	case newName == oldName:
		d.mu.Unlock()
		return errdefs.BadRequest("Renaming a container with the same name as its current name")
	case !validName.MatchString(newName):
		d.mu.Unlock()
		return errdefs.BadRequest("Error when allocating new name: Invalid container name (/%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName)
	case taken:
		d.mu.Unlock()
		return errdefs.Conflict("Error when allocating new name: Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", newName, id)
	}
	delete(d.names, oldName)
	d.names[newName] = c.ID
	c.Name = newName
	for _, other := range d.containers {
		for i, l := range other.HostConfig.Links {
			if name, alias := parseLink(l); name == oldName {
				other.HostConfig.Links[i] = newName + ":" + alias
			}
		}
	}
	running := c.state == StateRunning
	d.mu.Unlock()
	if running {
		if err := d.ctl.Rename(c.ID, newName); err != nil {
			return err
		}
	}
	d.ContainerEventUnlocked(c, "rename", map[string]string{"oldName": "/" + oldName})
	return nil
}
