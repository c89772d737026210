// Package events is a daemon's events as Docker 20.10 logs them: the
// recent ones kept for requests that look back, the subscribers that
// follow new ones, and dockerd's filter of them.
package events

import (
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
const limit = 256

// The types of event hostd logs.
const (
	Container = "container"
	Network   = "network"
	Volume    = "volume"
	Image     = "image"
)

// Message is one event as Docker 20.10 writes it. Container and image
// events also carry the older status, id and from fields.
type Message struct {
	Status   string `json:"status,omitempty"`
	ID       string `json:"id,omitempty"`
	From     string `json:"from,omitempty"`
	Type     string `json:"Type"`
	Action   string `json:"Action"`
	Actor    Actor  `json:"Actor"`
	Scope    string `json:"scope"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

// Actor is what an event is about: its ID and its attributes.
type Actor struct {
	ID         string
	Attributes map[string]string
}

// Log keeps the recent events and hands new ones to subscribers.
type Log struct {
	mu   sync.Mutex
	past []Message
	subs map[chan Message]struct{}
}

// subscriberBuffer is how many events a slow subscriber may fall behind
// before it misses some, as dockerd's publisher drops a message for a
// subscriber that does not take it in time.
const subscriberBuffer = 1024

// Record records an event as dockerd's events.Log does: local scope, the
// time now, the older fields filled for container and image events.
func (l *Log) Record(typ, action string, actor Actor) {
	now := time.Now().UTC()
	m := Message{Type: typ, Action: action, Actor: actor, Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()}
	switch typ {
	case Container:
		m.ID, m.Status, m.From = actor.ID, action, actor.Attributes["image"]
	case Image:
		m.ID, m.Status = actor.ID, action
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.past) == limit {
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
func (l *Log) Subscribe(since, until time.Time, match func(Message) bool) ([]Message, chan Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var past []Message
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
	ch := make(chan Message, subscriberBuffer)
	if l.subs == nil {
		l.subs = map[chan Message]struct{}{}
	}
	l.subs[ch] = struct{}{}
	return past, ch
}

func (l *Log) Unsubscribe(ch chan Message) {
	l.mu.Lock()
	delete(l.subs, ch)
	l.mu.Unlock()
}

// Forget drops the recorded events, as a daemon started again has none
// to look back on; subscribers stay.
func (l *Log) Forget() {
	l.mu.Lock()
	l.past = nil
	l.mu.Unlock()
}

// Listeners is /info's NEventsListener.
func (l *Log) Listeners() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.subs)
}

// Filter is dockerd's events.Filter: each key of the request's
// filters restricts what a subscriber sees.
type Filter filters.Args

func (f Filter) fuzzy(key, source string) bool {
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

func (f Filter) exact(key, source string) bool { return len(f[key]) == 0 || f[key][source] }

// Include is dockerd's Filter.Include: the event and type, the scope, and
// the actor's id or name for each kind of object; an image filter matches
// the image of a container event as well; labels match the attributes.
func (f Filter) Include(m Message) bool {
	a := m.Actor.Attributes
	event := f.exact("event", m.Action)
	for _, v := range []string{"health_status", "exec_create", "exec_start"} {
		if f["event"][v] {
			event = f.fuzzy("event", m.Action)
		}
	}
	byName := func(key string) bool { return f.fuzzy(key, m.Actor.ID) || f.fuzzy(key, a["name"]) }
	imageName := a["image"]
	if m.Type == Image {
		imageName = a["name"]
	}
	byImage := f.exact("image", m.Actor.ID) || f.exact("image", imageName) ||
		f.exact("image", stripTag(m.Actor.ID)) || f.exact("image", stripTag(imageName))
	return event && f.exact("type", m.Type) && f.exact("scope", m.Scope) &&
		byName("daemon") && byName(Container) && byName("plugin") && byName(Volume) &&
		byName(Network) && byImage && byName("node") && byName("service") && byName("secret") &&
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
