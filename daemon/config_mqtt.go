package daemon

import "math"

// MQTTConfig configures the embedded MQTT broker. Defaults are in brackets.
type MQTTConfig struct {
	// Listen is the broker's plain TCP address: the packaged config and
	// examples/sim.yaml use 127.0.0.1:1883 (this machine only); "" (the
	// default of a config without it) runs no broker.
	Listen    string              `yaml:"listen"`
	TLS       MQTTTLSConfig       `yaml:"tls"`
	Websocket MQTTWebsocketConfig `yaml:"websocket"`

	// MaxPacketSize is the largest MQTT packet the broker accepts, in
	// bytes [262144]; a client sending a bigger one is disconnected.
	MaxPacketSize int `yaml:"max_packet_size"`
	// ClientRate is how many messages a second one client may publish
	// before the broker slows it down [1000]; 0 turns the limit off.
	// ClientBurst is how many it may send at once above that rate [5000].
	ClientRate  float64 `yaml:"client_rate"`
	ClientBurst int     `yaml:"client_burst"`

	// Devices maps foreign devices' topics (zigbee2mqtt, Tasmota,
	// ESPHome) to Hearth entities.
	Devices []MQTTDeviceConfig `yaml:"devices"`
}

// MQTTTLSConfig is the broker's TLS listener; it runs when its Listen is
// set, beside mqtt.listen's. Password login is still required; a client
// certificate (ClientCA) is in addition.
type MQTTTLSConfig struct {
	Listen   string `yaml:"listen"`    // [""] host:port, usually :8883
	Cert     string `yaml:"cert"`      // PEM certificate chain file; required with listen
	Key      string `yaml:"key"`       // PEM private key file; required with listen
	ClientCA string `yaml:"client_ca"` // [""] PEM CA file: when set, clients must present a certificate it signed
}

// MQTTWebsocketConfig is the broker's websocket listener (MQTT over
// ws://host:port/), for browser dashboards; it runs when its Listen is
// set, beside mqtt.listen's.
type MQTTWebsocketConfig struct {
	Listen string `yaml:"listen"` // [""] host:port
}

func (c *Config) validateMQTT(p *problems) {
	m := &c.MQTT
	if m.Listen != "" {
		p.hostPort("mqtt.listen", m.Listen, "127.0.0.1:1883")
	}
	m.validateListeners(p)
	if n := m.MaxPacketSize; n < minMaxPacketSize || n > maxMaxPacketSize {
		p.add("mqtt.max_packet_size", "must be between %d and %d bytes (MQTT's limit), got %d", minMaxPacketSize, maxMaxPacketSize, n)
	}
	if r := m.ClientRate; !(r >= 0) || math.IsInf(r, 1) {
		p.add("mqtt.client_rate", "want messages a second, 0 (no limit) or more, got %v", r)
	} else if r > 0 && m.ClientBurst < 1 {
		p.add("mqtt.client_burst", "must be at least 1 when mqtt.client_rate is set, got %d", m.ClientBurst)
	}
	c.validateMQTTDevices(p)
}

// The range of mqtt.max_packet_size: below 1 KiB a client could hardly
// send a state; 268435455 is the most MQTT's length field can say.
const (
	minMaxPacketSize = 1024
	maxMaxPacketSize = 268435455
)

// validateListeners checks the TLS and websocket listeners. They are
// added to the broker that mqtt.listen starts, so without it they would
// silently not run.
func (m *MQTTConfig) validateListeners(p *problems) {
	t := &m.TLS
	if t.Listen != "" {
		p.hostPort("mqtt.tls.listen", t.Listen, "0.0.0.0:8883")
		if m.Listen == "" {
			p.add("mqtt.tls.listen", "needs mqtt.listen: the broker runs only when mqtt.listen is set (127.0.0.1:1883 keeps plain MQTT on this machine)")
		}
		if t.Cert == "" {
			p.add("mqtt.tls.cert", "is required when mqtt.tls.listen is set: the PEM certificate chain file")
		}
		if t.Key == "" {
			p.add("mqtt.tls.key", "is required when mqtt.tls.listen is set: the PEM private key file")
		}
	} else if t.ClientCA != "" {
		p.add("mqtt.tls.client_ca", "needs mqtt.tls.listen: client certificates are checked only on the TLS listener")
	}
	if w := m.Websocket.Listen; w != "" {
		p.hostPort("mqtt.websocket.listen", w, "127.0.0.1:8083")
		if m.Listen == "" {
			p.add("mqtt.websocket.listen", "needs mqtt.listen: the broker runs only when mqtt.listen is set")
		}
	}
}
