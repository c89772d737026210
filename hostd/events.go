package hostd

import (
	"maps"
	"strconv"

	"github.com/nslab/nslab/hostd/events"
)

// containerEvent logs an event of c as dockerd's
// LogContainerEventWithAttributes: attrs, the container's labels, its
// image as it was asked for and its name. Callers hold d.mu.
func (d *Daemon) containerEvent(c *Container, action string, attrs map[string]string) {
	a := maps.Clone(c.Config.Labels)
	if a == nil {
		a = map[string]string{}
	}
	maps.Copy(a, attrs)
	if c.Config.Image != "" {
		a["image"] = c.Config.Image
	}
	a["name"] = c.Name
	d.events.Record(events.Container, action, events.Actor{ID: c.ID, Attributes: a})
}

// ContainerEventUnlocked is containerEvent for callers that do not hold
// d.mu.
func (d *Daemon) ContainerEventUnlocked(c *Container, action string, attrs map[string]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.containerEvent(c, action, attrs)
}

// NetworkEvent logs an event of a network: its name and driver ("null"
// for none) with attrs.
func (d *Daemon) NetworkEvent(id, name, driver, action string, attrs map[string]string) {
	a := maps.Clone(attrs)
	if a == nil {
		a = map[string]string{}
	}
	a["name"], a["type"] = name, driver
	d.events.Record(events.Network, action, events.Actor{ID: id, Attributes: a})
}

// networkEventByName is networkEvent for a network known by name; one that
// no longer exists logs nothing.
func (d *Daemon) networkEventByName(name, action string, attrs map[string]string) {
	if n, err := d.ctl.Network(name); err == nil {
		d.NetworkEvent(n.ID, n.Name, n.Driver, action, attrs)
	}
}

// VolumeEvent logs an event of a local volume.
func (d *Daemon) VolumeEvent(name, action string, attrs map[string]string) {
	a := maps.Clone(attrs)
	if a == nil {
		a = map[string]string{}
	}
	a["driver"] = "local"
	d.events.Record(events.Volume, action, events.Actor{ID: name, Attributes: a})
}

// ImageEvent logs an event of an image as dockerd's LogImageEvent: the
// image's labels and the name the event is about (a reference for tag,
// the image id for untag, delete, load and save).
func (d *Daemon) ImageEvent(id, name, action string, labels map[string]string) {
	a := maps.Clone(labels)
	if a == nil {
		a = map[string]string{}
	}
	if name != "" {
		a["name"] = name
	}
	d.events.Record(events.Image, action, events.Actor{ID: id, Attributes: a})
}

// PruneEvent logs the end of a prune: dockerd names no actor, only the
// space reclaimed.
func (d *Daemon) PruneEvent(typ string, reclaimed int64) {
	d.events.Record(typ, "prune", events.Actor{Attributes: map[string]string{"reclaimed": strconv.FormatInt(reclaimed, 10)}})
}
