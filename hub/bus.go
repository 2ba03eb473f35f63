package hub

import (
	"sync"
	"sync/atomic"
	"time"
)

// Change is one attribute's move from Old to New. Old is the zero Value
// when the attribute had none.
type Change struct {
	Attr string `json:"attr"`
	Old  Value  `json:"old"`
	New  Value  `json:"new"`
}

// Event is one change of an entity's state.
type Event struct {
	Seq     uint64    `json:"seq"` // strictly increasing across the hub's life, restarts included
	Entity  ID        `json:"entity"`
	Changes []Change  `json:"changes"`
	At      time.Time `json:"at"`
	Source  string    `json:"source"`          // the component: "api", "hardware", "rule", "mqtt", "restore"
	Cause   Principal `json:"cause,omitempty"` // who asked, when a command caused it
}

// Bus carries events from publishers to subscribers. Publish never blocks:
// each subscriber has its own bounded queue, drained in batches. A queue
// that is full drops the event for that subscriber alone and counts it;
// the subscriber learns of the gap on its next drain.
type Bus struct {
	mu        sync.Mutex // serialises Subscribe and Close
	subs      atomic.Pointer[[]*Subscription]
	published atomic.Uint64
	// OnOverflow, when set before the first Publish, is called once each
	// time a subscriber's queue starts to overflow (not for every event).
	// It runs on the publisher's goroutine, under the hub's lock: it must
	// be quick and must not call the hub.
	OnOverflow func(sub string, queue int)
}

// Subscription is one subscriber's queue.
type Subscription struct {
	bus    *Bus
	name   string
	limit  int
	filter func(*Event) bool
	ready  chan struct{}

	mu       sync.Mutex
	queue    []Event
	dropped  uint64 // since the last drain
	closed   bool
	overflow bool // in an overflow burst

	totalDropped atomic.Uint64
	delivered    atomic.Uint64
}

// SubStats is a subscriber's figures for health and metrics.
type SubStats struct {
	Name      string `json:"name"`
	Queued    int    `json:"queued"`
	Limit     int    `json:"limit"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
}

// Subscribe adds a subscriber whose queue holds up to limit events.
// filter, if not nil, picks the events it wants; it runs on the publisher's
// goroutine, under the hub's lock: it must be quick and must not call the hub.
func (b *Bus) Subscribe(name string, limit int, filter func(*Event) bool) *Subscription {
	if limit < 1 {
		limit = 1
	}
	s := &Subscription{bus: b, name: name, limit: limit, filter: filter, ready: make(chan struct{}, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.subs.Load()
	var next []*Subscription
	if old != nil {
		next = append(next, *old...)
	}
	next = append(next, s)
	b.subs.Store(&next)
	return s
}

// Publish hands ev to every subscriber. It never waits on one.
func (b *Bus) Publish(ev *Event) {
	b.published.Add(1)
	subs := b.subs.Load()
	if subs == nil {
		return
	}
	for _, s := range *subs {
		if s.filter != nil && !s.filter(ev) {
			continue
		}
		s.push(ev)
	}
}

func (s *Subscription) push(ev *Event) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= s.limit {
		s.dropped++
		s.totalDropped.Add(1)
		first := !s.overflow
		s.overflow = true
		s.mu.Unlock()
		if first && s.bus.OnOverflow != nil {
			s.bus.OnOverflow(s.name, s.limit)
		}
		return
	}
	s.queue = append(s.queue, *ev)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Published counts every event published.
func (b *Bus) Published() uint64 { return b.published.Load() }

// Stats returns every subscriber's figures.
func (b *Bus) Stats() []SubStats {
	subs := b.subs.Load()
	if subs == nil {
		return nil
	}
	out := make([]SubStats, 0, len(*subs))
	for _, s := range *subs {
		out = append(out, s.Stats())
	}
	return out
}

// Name is the subscriber's name.
func (s *Subscription) Name() string { return s.name }

// Ready is signalled when events may be waiting. It is never closed.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Drain moves the queued events into buf[:0] and returns them, with the
// number of events dropped since the last drain. Passing the previous
// batch back as buf makes draining allocation-free once warm.
func (s *Subscription) Drain(buf []Event) (events []Event, dropped uint64) {
	clear(buf) // let the old events' Changes be collected
	s.mu.Lock()
	events = s.queue
	s.queue = buf[:0]
	dropped = s.dropped
	s.dropped = 0
	s.overflow = false
	s.mu.Unlock()
	s.delivered.Add(uint64(len(events)))
	return events, dropped
}

// Stats returns the subscriber's figures.
func (s *Subscription) Stats() SubStats {
	s.mu.Lock()
	n := len(s.queue)
	s.mu.Unlock()
	return SubStats{Name: s.name, Queued: n, Limit: s.limit, Delivered: s.delivered.Load(), Dropped: s.totalDropped.Load()}
}

// Close removes the subscriber from the bus. Events already queued can
// still be drained.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	old := b.subs.Load()
	if old == nil {
		return
	}
	next := make([]*Subscription, 0, len(*old))
	for _, o := range *old {
		if o != s {
			next = append(next, o)
		}
	}
	b.subs.Store(&next)
}
