package broker

import (
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Retained messages on subscribe. Mochi queues a new subscription's
// retained messages one after another from the subscriber's read loop,
// with nothing to slow it, and drops each one the subscriber's write
// queue cannot take: a Home Assistant subscribing to homeassistant/# in a
// house with many devices would miss some of their discovery configs. The
// flow hook waits after each one, while the queue is above its high
// water, for the subscriber's write loop (which runs on its own) to send
// some. It waits as long as the queue keeps moving, since a subscriber
// that reads is being served, and gives up on the rest of the subscribe
// once the queue has not moved for MaxWait: only the subscriber's own
// read loop is held, for a client that does not read its socket.
//
// A QoS 1 or 2 retained message also takes a place in the subscriber's
// in-flight store, which cannot empty meanwhile (its PUBACKs are read by
// the loop that waits here); past MaximumInflight mochi drops them.

// retainedStart lets the retained messages of cl's subscribe wait.
func (h *FlowHook) retainedStart(cl *mqtt.Client) {
	if h.disabled || cl.Net.Inline {
		return
	}
	h.mu.Lock()
	h.retained[cl] = struct{}{}
	h.mu.Unlock()
}

// retainedEnd forgets cl: it is gone, or its subscribe stopped waiting.
func (h *FlowHook) retainedEnd(cl *mqtt.Client) {
	h.mu.Lock()
	delete(h.retained, cl)
	h.mu.Unlock()
}

// OnRetainPublished implements mqtt.Hook: mochi has queued one retained
// message for cl and is about to queue the next.
func (h *FlowHook) OnRetainPublished(cl *mqtt.Client, _ packets.Packet) {
	if h.disabled || cl.Net.Inline {
		return
	}
	high := h.queueHigh()
	n := outboundLen(cl)
	if n < high {
		return
	}
	h.mu.Lock()
	_, ok := h.retained[cl]
	h.mu.Unlock()
	if !ok {
		return // this subscribe gave up (and was counted)
	}
	h.waits.Add(1)
	last, deadline := n, time.Now().Add(h.maxWait)
	for ; n >= high && !cl.Closed(); n = outboundLen(cl) {
		if n < last {
			last, deadline = n, time.Now().Add(h.maxWait)
		} else if !time.Now().Before(deadline) {
			h.timedOut.Add(1)
			h.note(cl.ID, flowTimedOut)
			h.retainedEnd(cl)
			return
		}
		time.Sleep(flowPoll)
	}
}
