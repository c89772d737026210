package hostd

import (
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/hostd/filters"
	"github.com/nslab/nslab/hostd/image"
)

// Docker's events: every change of a container, network, volume or image
// is logged as a message that GET /events streams (docker events,
// docker-compose logs and up, which follow a project's containers by its
// labels). dockerd keeps the last 256 for requests that look back with
// since or until (daemon/events.eventsLimit).
const eventsLimit = 256

// The event types hostd logs.
const (
	EventContainer = "container"
	EventNetwork   = "network"
	EventVolume    = "volume"
	EventImage     = "image"
)

// EventMessage is one event as Docker 20.10 writes it. Container and image
// events also carry the older status, id and from fields.
type EventMessage struct {
	Status   string     `json:"status,omitempty"`
	ID       string     `json:"id,omitempty"`
	From     string     `json:"from,omitempty"`
	Type     string     `json:"Type"`
	Action   string     `json:"Action"`
	Actor    eventActor `json:"Actor"`
	Scope    string     `json:"scope"`
	Time     int64      `json:"time"`
	TimeNano int64      `json:"timeNano"`
}

type eventActor struct {
	ID         string
	Attributes map[string]string
}

// EventLog keeps the recent events and hands new ones to subscribers.
type EventLog struct {
	mu   sync.Mutex
	past []EventMessage
	subs map[chan EventMessage]struct{}
}

// subscriberBuffer is how many events a slow subscriber may fall behind
// before it misses some, as dockerd's publisher drops a message for a
// subscriber that does not take it in time.
const subscriberBuffer = 1024

// log records an event as dockerd's events.Log does: local scope, the
// time now, the older fields filled for container and image events.
func (l *EventLog) log(typ, action string, actor eventActor) {
	now := time.Now().UTC()
	m := EventMessage{Type: typ, Action: action, Actor: actor, Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()}
	switch typ {
	case EventContainer:
		m.ID, m.Status, m.From = actor.ID, action, actor.Attributes["image"]
	case EventImage:
		m.ID, m.Status = actor.ID, action
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.past) == eventsLimit {
		l.past = append(l.past[:0], l.past[1:]...)
	}
	l.past = append(l.past, m)
	for ch := range l.subs {
		select {
		case ch <- m:
		default:
		}
	}
}

// Subscribe returns the recorded events between since and until that
// match (none when neither is set, as dockerd's loadBufferedEvents) and a
// channel of the events to come.
func (l *EventLog) Subscribe(since, until time.Time, match func(EventMessage) bool) ([]EventMessage, chan EventMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var past []EventMessage
	if !since.IsZero() || !until.IsZero() {
		for _, m := range l.past {
			if (!since.IsZero() && m.TimeNano < since.UnixNano()) || (!until.IsZero() && m.TimeNano > until.UnixNano()) {
				continue
			}
			if match(m) {
				past = append(past, m)
			}
		}
	}
	ch := make(chan EventMessage, subscriberBuffer)
	if l.subs == nil {
		l.subs = map[chan EventMessage]struct{}{}
	}
	l.subs[ch] = struct{}{}
	return past, ch
}

func (l *EventLog) Unsubscribe(ch chan EventMessage) {
	l.mu.Lock()
	delete(l.subs, ch)
	l.mu.Unlock()
}

// Listeners is /info's NEventsListener.
func (l *EventLog) Listeners() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.subs)
}

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
	d.events.log(EventContainer, action, eventActor{ID: c.ID, Attributes: a})
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
	d.events.log(EventNetwork, action, eventActor{ID: id, Attributes: a})
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
	d.events.log(EventVolume, action, eventActor{ID: name, Attributes: a})
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
	d.events.log(EventImage, action, eventActor{ID: id, Attributes: a})
}

// PruneEvent logs the end of a prune: dockerd names no actor, only the
// space reclaimed.
func (d *Daemon) PruneEvent(typ string, reclaimed int64) {
	d.events.log(typ, "prune", eventActor{Attributes: map[string]string{"reclaimed": strconv.FormatInt(reclaimed, 10)}})
}

// EventFilter is dockerd's events.Filter: each key of the request's
// filters restricts what a subscriber sees.
type EventFilter filters.Args

func (f EventFilter) fuzzy(key, source string) bool {
	if len(f[key]) == 0 || f[key][source] {
		return true
	}
	for prefix := range f[key] {
		if strings.HasPrefix(source, prefix) {
			return true
		}
	}
	return false
}

func (f EventFilter) exact(key, source string) bool { return len(f[key]) == 0 || f[key][source] }

// Include is dockerd's Filter.Include: the event and type, the scope, and
// the actor's id or name for each kind of object; an image filter matches
// the image of a container event as well; labels match the attributes.
func (f EventFilter) Include(m EventMessage) bool {
	a := m.Actor.Attributes
	event := f.exact("event", m.Action)
	for _, v := range []string{"health_status", "exec_create", "exec_start"} {
		if f["event"][v] {
			event = f.fuzzy("event", m.Action)
		}
	}
	byName := func(key string) bool { return f.fuzzy(key, m.Actor.ID) || f.fuzzy(key, a["name"]) }
	imageName := a["image"]
	if m.Type == EventImage {
		imageName = a["name"]
	}
	byImage := f.exact("image", m.Actor.ID) || f.exact("image", imageName) ||
		f.exact("image", stripTag(m.Actor.ID)) || f.exact("image", stripTag(imageName))
	return event && f.exact("type", m.Type) && f.exact("scope", m.Scope) &&
		byName("daemon") && byName(EventContainer) && byName("plugin") && byName(EventVolume) &&
		byName(EventNetwork) && byImage && byName("node") && byName("service") && byName("secret") &&
		byName("config") && filters.Args(f).MatchLabels(a)
}

// stripTag is a reference without its tag, as dockerd's event filter
// compares image names: "busybox:latest" is also "busybox".
func stripTag(ref string) string {
	n, err := image.ParseNamed(ref)
	if err != nil {
		return ref
	}
	return n.FamiliarName()
}
