package broker

import (
	"bytes"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// SendQuotaHook turns off mochi's own pacing of an MQTT 5 client's
// Receive Maximum (its send quota), leaving that pacing to FlowHook, which
// holds a publisher while a subscriber has its Receive Maximum in flight.
//
// Why: mochi v2.7.9 paces with Inflight.NextImmediate, which its read loop
// calls after every packet from a client with messages in flight and
// quota left. NextImmediate read-locks the in-flight store and calls
// GetAll, which read-locks it again; a publisher's goroutine adding a
// message to the same store (Inflight.Set, a write lock) between the two
// deadlocks both, since a waiting writer blocks new readers. Under a
// fan-in burst into a subscriber with a small Receive Maximum that
// interleaving is reachable. Worse, and seen in TestFlowFanInBurstMQTT5:
// a message queued at zero quota just after the subscriber's last
// acknowledgement stays unsent until its next packet (a keepalive ping,
// a minute later), stalling every publisher that FlowHook holds for it.
// With the quota at zero NextImmediate is never called and nothing is
// held back unsent.
//
// The cost: FlowHook's check and mochi's send are not one step, so
// publishers racing for a subscriber's last free slot can put up to one
// message each above its Receive Maximum, and a wait that hits
// FlowOptions.MaxWait sends anyway.
type SendQuotaHook struct{ mqtt.HookBase }

// ID implements mqtt.Hook.
func (h *SendQuotaHook) ID() string { return "hearth-send-quota" }

// Provides implements mqtt.Hook.
func (h *SendQuotaHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnSessionEstablish, mqtt.OnSessionEstablished}, []byte{b})
}

// OnSessionEstablish zeroes the send quota before the client is added to
// the server, so no publisher sees it with quota.
func (h *SendQuotaHook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	cl.State.Inflight.ResetSendQuota(0)
}

// OnSessionEstablished zeroes it again: mochi resets it when the client
// takes over a session with messages in flight.
func (h *SendQuotaHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	cl.State.Inflight.ResetSendQuota(0)
}
