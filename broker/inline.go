package broker

import (
	"fmt"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Message is a publish that reached one of the broker's own subscriptions.
type Message struct {
	Topic   string
	Payload []byte
	// User is the user name of the client that published it (a live
	// publish or its will); "" for the broker's own publishes and for
	// the retained messages replayed when the subscription is made.
	User string
	// Retained is set on a retained message delivered when the
	// subscription was made.
	Retained bool
	// Published is when the broker received it, to the second; zero if
	// unknown.
	Published time.Time
}

// inlineSubs holds the broker's own subscriptions: made at Start, after
// the stored retained messages are loaded, or at once when it runs.
type inlineSubs struct {
	mu      sync.Mutex
	running bool
	nextID  int
	pending []inlineSub
}

type inlineSub struct {
	filter string
	id     int
	fn     func(Message)
}

// Subscribe calls fn with every message published on filter, from any
// client, starting with the retained messages that match it (a device's
// retained state is its first value). fn runs on the publisher's own
// goroutine, before the broker acknowledges the publish: it must be quick
// and must not publish to the broker. Subscribe may be called before
// Start; the subscription is then made when the broker starts.
func (b *Broker) Subscribe(filter string, fn func(Message)) error {
	if fn == nil {
		return fmt.Errorf("broker: subscribe %q: no handler", filter)
	}
	if !mqtt.IsValidFilter(filter, false) {
		return fmt.Errorf("broker: subscribe %q: not a valid topic filter", filter)
	}
	s := &b.inline
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++ // mochi keys a filter's inline subscriptions by id
	sub := inlineSub{filter: filter, id: s.nextID, fn: fn}
	if !s.running {
		s.pending = append(s.pending, sub)
		return nil
	}
	return b.subscribeInline(sub)
}

// startInline makes the subscriptions asked for before Start.
func (b *Broker) startInline() {
	s := &b.inline
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = true
	for _, sub := range s.pending {
		if err := b.subscribeInline(sub); err != nil {
			b.log.Error("inline subscribe", "filter", sub.filter, "err", err)
		}
	}
	s.pending = nil
}

func (b *Broker) subscribeInline(sub inlineSub) error {
	// mochi replays the retained messages inside its Subscribe.
	replay := make(chan struct{})
	handler := func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		m := Message{Topic: pk.TopicName, Payload: pk.Payload}
		if pk.Created > 0 {
			m.Published = time.Unix(pk.Created, 0)
		}
		select {
		case <-replay:
		default:
			m.Retained = pk.FixedHeader.Retain
		}
		// A client id may have changed hands since a retained message was
		// stored: only a live publish names its user.
		if cl, ok := b.srv.Clients.Get(pk.Origin); ok && !m.Retained && !cl.Net.Inline {
			m.User = string(cl.Properties.Username)
		}
		sub.fn(m)
	}
	err := b.srv.Subscribe(sub.filter, sub.id, handler)
	close(replay)
	if err != nil {
		return fmt.Errorf("broker: subscribe %q: %w", sub.filter, err)
	}
	return nil
}
