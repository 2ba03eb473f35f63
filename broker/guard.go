package broker

import (
	"fmt"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// GuardHook covers two gaps in mochi's protocol handling. It closes the
// connection of a client that sends a packet its protocol version does
// not have, which mochi would process: AUTH (type 15) exists only in
// MQTT 5, MQTT 3.1.1 §2.2.1 reserves type 15. And it announces the
// broker's maximum packet size in the CONNACK to MQTT 5 clients (§3.2.2.3.6),
// which mochi enforces but does not send, so well-behaved clients never
// send a packet that would cost them their connection.
type GuardHook struct {
	mqtt.HookBase
	maxPacket uint32
}

// GuardOptions configure the guard hook.
type GuardOptions struct {
	MaxPacketSize uint32 // as announced; must be above 0
}

// ID implements mqtt.Hook.
func (h *GuardHook) ID() string { return "hearth-guard" }

// Provides implements mqtt.Hook.
func (h *GuardHook) Provides(b byte) bool { return b == mqtt.OnPacketRead || b == mqtt.OnPacketEncode }

// Init takes a GuardOptions.
func (h *GuardHook) Init(config any) error {
	opts, ok := config.(GuardOptions)
	if !ok || opts.MaxPacketSize == 0 {
		return fmt.Errorf("%s: want GuardOptions with MaxPacketSize, got %#v", h.ID(), config)
	}
	h.maxPacket = opts.MaxPacketSize
	return nil
}

// OnPacketRead implements mqtt.Hook; the error closes the connection.
func (h *GuardHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Auth && cl.Properties.ProtocolVersion < 5 {
		return pk, fmt.Errorf("%s: packet type 15 (AUTH) from MQTT version %d client %q: %w", h.ID(), cl.Properties.ProtocolVersion, cl.ID, packets.ErrRejectPacket)
	}
	return pk, nil
}

// OnPacketEncode implements mqtt.Hook.
func (h *GuardHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && cl.Properties.ProtocolVersion == 5 {
		pk.Properties.MaximumPacketSize = h.maxPacket
	}
	return pk
}
