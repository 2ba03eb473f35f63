package broker

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// FlowOptions configure a FlowHook.
type FlowOptions struct {
	Server *mqtt.Server // required
	// MaxWait bounds how long one publish waits for its backed-up
	// subscribers; 2s if zero.
	MaxWait time.Duration
	// HighWater is the fraction of a subscriber's pending-write queue
	// (MaximumClientWritesPending) and in-flight store (MaximumInflight)
	// above which it counts as backed up; 0.5 if zero.
	HighWater float64
	Log       *slog.Logger // slog.Default() if nil
	// Disabled keeps the counters but never waits (for comparisons).
	Disabled bool
}

// FlowStats are a FlowHook's counters since Init.
type FlowStats struct {
	Waits    uint64 // publishes that waited for at least one subscriber
	TimedOut uint64 // waits that hit MaxWait (the message may then be dropped)
	Dropped  uint64 // messages mochi dropped for a full write queue (OnPublishDropped)
	// InflightDropped counts QoS > 0 messages routed to a subscriber whose
	// in-flight store is full (an offline session's queue, or a wait that
	// timed out): mochi drops those with no hook, so they are counted in
	// OnPublish, just before mochi routes the message.
	InflightDropped uint64
}

// flowPoll is the step of the wait for a backed-up subscriber.
const flowPoll = time.Millisecond

// flowLogEvery limits the log lines per client.
const flowLogEvery = time.Minute

// outboundField locates mochi's unexported per-client write queue
// (ClientState.outbound, a buffered channel). Its length is read through
// reflect, which may read an unexported channel's length; nothing is
// written. Checked in Init, so a mochi upgrade that renames it fails
// loudly instead of silently losing flow control.
var outboundField = func() []int {
	f, ok := reflect.TypeOf(mqtt.ClientState{}).FieldByName("outbound")
	if !ok || f.Type.Kind() != reflect.Chan {
		return nil
	}
	return f.Index
}()

// FlowHook slows a publisher, in its OnPublish (which mochi runs on the
// publisher's read loop before the PUBACK), while a subscriber the topic
// fans out to is backed up: its pending-write queue or its in-flight store
// above HighWater of capacity, or its in-flight count at its receive
// maximum. Each subscriber is checked on its own, so a slow subscriber
// slows only the publishers feeding it; one publish waits at most MaxWait
// in all. Mochi would
// otherwise acknowledge the message and drop it at the subscriber.
//
// The inline client (the hub's own publishes) never waits. A publisher
// does not wait for its own in-flight store, whose acknowledgements its
// read loop (blocked here) would process.
type FlowHook struct {
	mqtt.HookBase
	srv       *mqtt.Server
	maxWait   time.Duration
	highWater float64
	log       *slog.Logger
	disabled  bool

	waits       atomic.Uint64
	timedOut    atomic.Uint64
	dropped     atomic.Uint64
	inflDropped atomic.Uint64

	routes flowRoutes

	mu       sync.Mutex
	clients  map[string]*flowClient
	retained map[*mqtt.Client]struct{} // subscribes whose retained messages may wait (flow_retained.go)
	now      func() time.Time
}

// What a flowClient counts and logs.
const (
	flowTimedOut = iota
	flowDropped
	flowInflightDropped
	flowKinds
)

var flowMessages = [flowKinds]string{
	flowTimedOut:        "mqtt flow control wait hit its bound: subscriber backed up",
	flowDropped:         "mqtt messages dropped: subscriber write queue full",
	flowInflightDropped: "mqtt messages dropped: subscriber in-flight store full",
}

type flowClient struct {
	n      [flowKinds]uint64    // since logged
	logged [flowKinds]time.Time // last line
}

// ID implements mqtt.Hook.
func (h *FlowHook) ID() string { return "hearth-flow" }

// Provides implements mqtt.Hook.
func (h *FlowHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnPublish, mqtt.OnPublishDropped,
		mqtt.OnSubscribed, mqtt.OnUnsubscribed, mqtt.OnDisconnect, mqtt.OnSessionEstablished,
		mqtt.OnClientExpired, mqtt.OnRetainPublished}, []byte{b})
}

// Init implements mqtt.Hook; config is a *FlowOptions.
func (h *FlowHook) Init(config any) error {
	o, ok := config.(*FlowOptions)
	if !ok || o == nil || o.Server == nil {
		return errors.New("flow: config must be a *FlowOptions with a Server")
	}
	if outboundField == nil {
		return errors.New("flow: mochi ClientState has no outbound queue (mochi version changed?)")
	}
	h.srv, h.maxWait, h.highWater, h.log, h.disabled = o.Server, o.MaxWait, o.HighWater, o.Log, o.Disabled
	if h.maxWait <= 0 {
		h.maxWait = 2 * time.Second
	}
	if h.highWater <= 0 || h.highWater > 1 {
		h.highWater = 0.5
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.clients = make(map[string]*flowClient)
	h.retained = make(map[*mqtt.Client]struct{})
	h.now = time.Now
	return nil
}

// Stats returns the counters.
func (h *FlowHook) Stats() FlowStats {
	return FlowStats{Waits: h.waits.Load(), TimedOut: h.timedOut.Load(),
		Dropped: h.dropped.Load(), InflightDropped: h.inflDropped.Load()}
}

// OnPublish waits while any subscriber of pk's topic is backed up.
func (h *FlowHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if h.disabled || cl.Net.Inline || pk.Ignore {
		return pk, nil
	}
	subs := h.routes.get(pk.TopicName, h.srv.Topics.Subscribers)
	if len(subs.Subscriptions) == 0 && len(subs.Shared) == 0 {
		return pk, nil
	}
	caps := h.srv.Options.Capabilities
	queueHigh := h.queueHigh()
	inflightMax := int(caps.MaximumInflight)
	inflightHigh := int(float64(inflightMax) * h.highWater)
	if inflightHigh < 1 {
		inflightHigh = 1
	}
	// One bound for the whole publish, however many subscribers are slow:
	// the publisher's read loop (and its keepalive) is blocked meanwhile.
	waited, deadline := false, time.Time{}
	check := func(id string, sub packets.Subscription) {
		if sub.NoLocal && id == cl.ID {
			return
		}
		sc, ok := h.srv.Clients.Get(id)
		if !ok {
			return
		}
		qos := min(pk.FixedHeader.Qos, sub.Qos)
		limit := inflightHigh
		if rm := int(sc.Properties.Props.ReceiveMaximum); rm > 0 && rm < limit {
			limit = rm
		}
		self := sc == cl
		defer func() {
			// Mochi drops at this limit; count what it is about to drop.
			if qos > 0 && sc.State.Inflight.Len() >= inflightMax {
				h.inflDropped.Add(1)
				h.note(sc.ID, flowInflightDropped)
			}
		}()
		backed := func() bool {
			if sc.Closed() {
				return false
			}
			if outboundLen(sc) >= queueHigh {
				return true
			}
			return qos > 0 && !self && sc.State.Inflight.Len() >= limit
		}
		if !backed() {
			return
		}
		if !waited {
			waited, deadline = true, time.Now().Add(h.maxWait)
		}
		for backed() {
			if !time.Now().Before(deadline) {
				h.timedOut.Add(1)
				h.note(sc.ID, flowTimedOut)
				return
			}
			time.Sleep(flowPoll)
		}
	}
	for id, sub := range subs.Subscriptions {
		check(id, sub)
	}
	for _, group := range subs.Shared {
		// Mochi picks one member per group after this hook; wait until
		// at least one could take it, by waiting for the least loaded.
		var best string
		var bestSub packets.Subscription
		bestLen := -1
		for id, sub := range group {
			if sc, ok := h.srv.Clients.Get(id); ok {
				if n := outboundLen(sc); bestLen < 0 || n < bestLen {
					best, bestSub, bestLen = id, sub, n
				}
			}
		}
		if bestLen >= 0 {
			check(best, bestSub)
		}
	}
	if waited {
		h.waits.Add(1)
	}
	return pk, nil
}

// queueHigh is the write-queue length above which a client is backed up.
func (h *FlowHook) queueHigh() int {
	return max(1, int(float64(h.srv.Options.Capabilities.MaximumClientWritesPending)*h.highWater))
}

// OnPublishDropped counts a message mochi dropped at cl's full write queue.
func (h *FlowHook) OnPublishDropped(cl *mqtt.Client, _ packets.Packet) {
	h.dropped.Add(1)
	h.note(cl.ID, flowDropped)
}

// note counts an event of kind for client id and logs it at most once
// per client and kind per flowLogEvery, with the count since the last
// line.
func (h *FlowHook) note(id string, kind int) {
	now := h.now()
	h.mu.Lock()
	fc := h.clients[id]
	if fc == nil {
		if len(h.clients) >= 4096 {
			h.prune(now)
		}
		fc = new(flowClient)
		h.clients[id] = fc
	}
	fc.n[kind]++
	n := fc.n[kind]
	logNow := now.Sub(fc.logged[kind]) >= flowLogEvery
	if logNow {
		fc.n[kind], fc.logged[kind] = 0, now
	}
	h.mu.Unlock()
	if logNow {
		h.log.Warn(flowMessages[kind], "client", id, "count", n, "max_wait", h.maxWait)
	}
}

// prune forgets clients with nothing logged within flowLogEvery; h.mu held.
func (h *FlowHook) prune(now time.Time) {
	// An event older than flowLogEvery was logged when it happened, so
	// such a client has nothing pending and would log its next at once.
next:
	for id, fc := range h.clients {
		for _, at := range fc.logged {
			if now.Sub(at) < flowLogEvery {
				continue next
			}
		}
		delete(h.clients, id)
	}
}

// outboundLen is the number of packets waiting in cl's write queue.
func outboundLen(cl *mqtt.Client) int {
	return reflect.ValueOf(&cl.State).Elem().FieldByIndex(outboundField).Len()
}
