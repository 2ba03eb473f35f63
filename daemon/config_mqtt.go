package daemon

import (
	"math"
	"net"
)

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

// MQTTTLSConfig is the broker's TLS listener; it runs when Listen is set.
type MQTTTLSConfig struct {
	Listen   string `yaml:"listen"`    // [""] host:port, usually :8883
	Cert     string `yaml:"cert"`      // PEM certificate chain file; required with listen
	Key      string `yaml:"key"`       // PEM private key file; required with listen
	ClientCA string `yaml:"client_ca"` // [""] PEM CA file: when set, clients must present a certificate it signed
}

// MQTTWebsocketConfig is the broker's websocket listener (MQTT over
// ws://host:port/), for browser dashboards; it runs when Listen is set.
type MQTTWebsocketConfig struct {
	Listen string `yaml:"listen"` // [""] host:port
}

func (c *Config) validateMQTT(p *problems) {
	m := &c.MQTT
	if l := m.Listen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			p.add("mqtt.listen", "want host:port, like 127.0.0.1:1883, got %q", l)
		}
	}
	if r := m.ClientRate; !(r >= 0) || math.IsInf(r, 1) {
		p.add("mqtt.client_rate", "want messages a second, 0 (no limit) or more, got %v", r)
	} else if r > 0 && m.ClientBurst < 1 {
		p.add("mqtt.client_burst", "must be at least 1 when mqtt.client_rate is set, got %d", m.ClientBurst)
	}
	c.validateMQTTDevices(p)
}
