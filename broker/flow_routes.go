package broker

import (
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// flowRoutesMax bounds the topics flowRoutes remembers; past it the
// cache starts again empty.
const flowRoutesMax = 1024

// flowRoutes remembers, per topic, the subscribers mochi's topic index
// returns, until a subscription changes. Flow control needs them before
// mochi routes each message, and asking the index twice per message (mochi
// asks again itself) was a sixth of everything the broker allocated under
// a fan-in burst.
//
// A subscription is in mochi's index a moment before OnSubscribed runs; a
// message published in that moment is routed to the new subscriber
// without a flow check, as it would be without the cache. Entries for a
// subscriber that left are harmless: flow control skips clients that are
// gone or closed.
type flowRoutes struct {
	gen atomic.Uint64 // bumped on every subscription change
	mu  sync.RWMutex
	at  uint64 // the generation m belongs to
	m   map[string]*mqtt.Subscribers
}

// get returns topic's subscribers, from the cache when it is current.
// The result is shared: read it, never change it.
func (r *flowRoutes) get(topic string, lookup func(string) *mqtt.Subscribers) *mqtt.Subscribers {
	g := r.gen.Load()
	r.mu.RLock()
	if r.at == g {
		if s, ok := r.m[topic]; ok {
			r.mu.RUnlock()
			return s
		}
	}
	r.mu.RUnlock()
	s := lookup(topic)
	r.mu.Lock()
	defer r.mu.Unlock()
	if g < r.at {
		return s // looked up before a newer change: use it once, keep nothing
	}
	if r.at != g || r.m == nil || len(r.m) >= flowRoutesMax {
		r.m, r.at = make(map[string]*mqtt.Subscribers), g
	}
	r.m[topic] = s
	return s
}

// changed forgets every cached topic.
func (r *flowRoutes) changed() { r.gen.Add(1) }

// The hook events that change who subscribes to what.

// OnSubscribed implements mqtt.Hook. Mochi sends the subscription's
// retained messages next, on the same goroutine (see OnRetainPublished).
func (h *FlowHook) OnSubscribed(cl *mqtt.Client, _ packets.Packet, _ []byte) {
	h.routes.changed()
	h.retainedStart(cl)
}

// OnUnsubscribed implements mqtt.Hook.
func (h *FlowHook) OnUnsubscribed(*mqtt.Client, packets.Packet) { h.routes.changed() }

// OnDisconnect implements mqtt.Hook.
func (h *FlowHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.routes.changed()
	h.retainedEnd(cl)
}

// OnSessionEstablished implements mqtt.Hook: a taken-over session's
// subscriptions move to the new client.
func (h *FlowHook) OnSessionEstablished(*mqtt.Client, packets.Packet) { h.routes.changed() }

// OnClientExpired implements mqtt.Hook.
func (h *FlowHook) OnClientExpired(*mqtt.Client) { h.routes.changed() }
