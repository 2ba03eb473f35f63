package broker

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hearth-hub/hearth/hub"
)

// Home Assistant discovery defaults.
const (
	DefaultDiscoveryPrefix = "homeassistant"
	DefaultDiscoveryNodeID = "hearth"
)

// DiscoveryOptions configure the discovery hook.
type DiscoveryOptions struct {
	Hub    *hub.Hub
	Server *mqtt.Server // with InlineClient on
	Prefix string       // discovery prefix; DefaultDiscoveryPrefix if empty
	NodeID string       // node id in the config topics; DefaultDiscoveryNodeID if empty
	Log    *slog.Logger // the hook's own logger if nil
}

// DiscoveryHook publishes a retained Home Assistant MQTT discovery config
// for each hub entity, pointing Home Assistant at the bridge's state and
// command topics. It publishes when Publish is called and again whenever a
// client publishes "online" on <prefix>/status (Home Assistant's birth
// message).
type DiscoveryHook struct {
	mqtt.HookBase
	opts DiscoveryOptions
	log  *slog.Logger

	mu        sync.Mutex          // serialises Publish
	published map[string]struct{} // config topics last published
}

// ID implements mqtt.Hook.
func (h *DiscoveryHook) ID() string { return "hearth-discovery" }

// Provides implements mqtt.Hook.
func (h *DiscoveryHook) Provides(b byte) bool { return b == mqtt.OnPublished }

// Init takes a *DiscoveryOptions.
func (h *DiscoveryHook) Init(config any) error {
	p, ok := config.(*DiscoveryOptions)
	if !ok || p == nil || p.Hub == nil || p.Server == nil {
		return fmt.Errorf("%s: want *DiscoveryOptions with Hub and Server, got %T", h.ID(), config)
	}
	opts := *p
	if opts.Prefix == "" {
		opts.Prefix = DefaultDiscoveryPrefix
	}
	if opts.NodeID == "" {
		opts.NodeID = DefaultDiscoveryNodeID
	}
	if strings.ContainsAny(opts.Prefix, "#+") || strings.HasPrefix(opts.Prefix, "/") || strings.HasSuffix(opts.Prefix, "/") {
		return fmt.Errorf("%s: bad discovery prefix %q", h.ID(), opts.Prefix)
	}
	if !validDiscoveryID(opts.NodeID) {
		return fmt.Errorf("%s: node id %q: want [a-zA-Z0-9_-]+", h.ID(), opts.NodeID)
	}
	h.opts = opts
	h.log = opts.Log
	if h.log == nil {
		h.log = h.Log
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.published = map[string]struct{}{}
	return nil
}

func validDiscoveryID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// BirthTopic is where Home Assistant announces itself: <prefix>/status.
func (h *DiscoveryHook) BirthTopic() string { return h.opts.Prefix + "/status" }

// OnPublished implements mqtt.Hook: Home Assistant's birth message makes
// the configs go out again.
func (h *DiscoveryHook) OnPublished(_ *mqtt.Client, pk packets.Packet) {
	if pk.TopicName == h.BirthTopic() && string(pk.Payload) == "online" {
		h.Publish()
	}
}

// DiscoveryConfig is one entity's (or, for a sensor, one attribute's)
// discovery config.
type DiscoveryConfig struct {
	Topic   string         // <prefix>/<component>/<node_id>/<object_id>/config
	Payload map[string]any // the JSON document
}

// Publish publishes every entity's config, retained, and clears (with an
// empty retained message) the configs of entities that have gone since the
// last call.
func (h *DiscoveryHook) Publish() {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := map[string]struct{}{}
	for _, c := range h.Configs() {
		b, err := json.Marshal(c.Payload)
		if err != nil {
			h.log.Error("discovery config", "hook", h.ID(), "topic", c.Topic, "err", err)
			continue
		}
		now[c.Topic] = struct{}{}
		h.publish(c.Topic, b)
	}
	for t := range h.published {
		if _, ok := now[t]; !ok {
			h.publish(t, nil)
		}
	}
	h.published = now
}

func (h *DiscoveryHook) publish(topic string, payload []byte) {
	if err := h.opts.Server.Publish(topic, payload, true, 1); err != nil {
		h.log.Error("publish", "hook", h.ID(), "topic", topic, "err", err)
	}
}

// Configs builds the discovery configs for the hub's current entities.
// Entities of kinds Home Assistant has no mapping for here are left out.
func (h *DiscoveryHook) Configs() []DiscoveryConfig {
	var out []DiscoveryConfig
	for _, s := range h.opts.Hub.Entities() {
		out = append(out, h.entityConfigs(s)...)
	}
	return out
}

// objectID is the entity's id as a discovery object id.
func objectID(id hub.ID) string { return strings.ReplaceAll(string(id), ".", "_") }

func (h *DiscoveryHook) entityConfigs(s hub.Snapshot) []DiscoveryConfig {
	attr := func(name string) (hub.AttrSpec, bool) {
		i := slices.IndexFunc(s.Schema, func(a hub.AttrSpec) bool { return a.Name == name })
		if i < 0 {
			return hub.AttrSpec{}, false
		}
		return s.Schema[i], true
	}
	oid := objectID(s.ID)
	state, set := StateTopic(s.ID), SetTopic(s.ID)
	one := func(component string, doc map[string]any) []DiscoveryConfig {
		return []DiscoveryConfig{h.config(component, oid, s.Name, doc)}
	}
	switch s.ID.Kind() {
	case "thermostat":
		return one("climate", climateConfig(attr, state, set))
	case "lock":
		return one("lock", map[string]any{
			"command_topic":   set,
			"payload_lock":    `{"action":"lock"}`,
			"payload_unlock":  `{"action":"unlock"}`,
			"state_topic":     state,
			"value_template":  valueTemplate("state"),
			"state_locked":    "locked",
			"state_unlocked":  "unlocked",
			"state_locking":   "locking",
			"state_unlocking": "unlocking",
			"state_jammed":    "jammed",
			"payload_reset":   "unknown",
			"optimistic":      false,
			"qos":             1,
		})
	case "sensor":
		var out []DiscoveryConfig
		for _, a := range s.Schema {
			doc := map[string]any{
				"state_topic":    state,
				"value_template": valueTemplate(a.Name),
			}
			if a.Type == hub.TypeNumber {
				doc["state_class"] = "measurement"
				if a.Unit != "" {
					doc["unit_of_measurement"] = a.Unit
				}
			}
			switch a.Name {
			case "temperature", "humidity", "pressure":
				doc["device_class"] = a.Name
			}
			out = append(out, h.config("sensor", oid+"_"+a.Name, s.Name+" "+a.Name, doc))
		}
		return out
	case "contact":
		return one("binary_sensor", map[string]any{
			"device_class": "door",
			"state_topic":  state,
			// on is open: closed false. A missing reading is unknown.
			"value_template": "{% set c = value_json.get('closed') %}{{ 'None' if c is none else ('OFF' if c else 'ON') }}",
			"payload_on":     "ON",
			"payload_off":    "OFF",
		})
	case "switch":
		return one("switch", switchConfig("on", state, set))
	case hub.VirtualBoolean:
		return one("switch", switchConfig(hub.VirtualValueAttr, state, set))
	case hub.VirtualNumber:
		doc := map[string]any{
			"command_topic":    set,
			"command_template": commandTemplate(hub.VirtualValueAttr),
			"state_topic":      state,
			"value_template":   valueTemplate(hub.VirtualValueAttr),
		}
		if a, ok := attr(hub.VirtualValueAttr); ok {
			if a.Ranged {
				doc["min"], doc["max"] = a.Min, a.Max
			}
			if a.Step > 0 {
				doc["step"] = a.Step
			}
			if a.Unit != "" {
				doc["unit_of_measurement"] = a.Unit
			}
		}
		return one("number", doc)
	case hub.VirtualSelect:
		a, _ := attr(hub.VirtualValueAttr)
		return one("select", map[string]any{
			"command_topic":    set,
			"command_template": commandTemplate(hub.VirtualValueAttr),
			"state_topic":      state,
			"value_template":   valueTemplate(hub.VirtualValueAttr),
			"options":          nonNil(a.Options),
		})
	case hub.VirtualText:
		doc := map[string]any{
			"command_topic":    set,
			"command_template": commandTemplate(hub.VirtualValueAttr),
			"state_topic":      state,
			"value_template":   valueTemplate(hub.VirtualValueAttr),
		}
		if a, ok := attr(hub.VirtualValueAttr); ok && a.MaxLen > 0 {
			doc["max"] = min(a.MaxLen, 255)
		}
		return one("text", doc)
	}
	h.log.Debug("no discovery mapping", "hook", h.ID(), "entity", s.ID)
	return nil
}

// config adds what every config has: name, unique_id, availability and
// the device block.
func (h *DiscoveryHook) config(component, oid, name string, doc map[string]any) DiscoveryConfig {
	doc["name"] = name
	doc["unique_id"] = h.opts.NodeID + "_" + oid
	doc["availability_topic"] = StatusTopic
	doc["payload_available"] = "online"
	doc["payload_not_available"] = "offline"
	doc["device"] = map[string]any{
		"identifiers":  []string{h.opts.NodeID},
		"name":         "Hearth",
		"manufacturer": "Hearth",
		"model":        "Hearth hub",
	}
	doc["origin"] = map[string]any{"name": "Hearth"}
	return DiscoveryConfig{
		Topic:   h.opts.Prefix + "/" + component + "/" + h.opts.NodeID + "/" + oid + "/config",
		Payload: doc,
	}
}

// haModes are the climate modes Home Assistant accepts.
var haModes = []string{"auto", "off", "cool", "heat", "dry", "fan_only", "heat_cool"}

func climateConfig(attr func(string) (hub.AttrSpec, bool), state, set string) map[string]any {
	doc := map[string]any{"precision": 0.1}
	if a, ok := attr("mode"); ok {
		var modes []string
		for _, m := range a.Options {
			if slices.Contains(haModes, m) {
				modes = append(modes, m)
			}
		}
		doc["modes"] = nonNil(modes)
		doc["mode_state_topic"] = state
		doc["mode_state_template"] = valueTemplate("mode")
		if a.Writable {
			doc["mode_command_topic"] = set
			doc["mode_command_template"] = commandTemplate("mode")
		}
	}
	if a, ok := attr("target"); ok {
		doc["temperature_state_topic"] = state
		doc["temperature_state_template"] = valueTemplate("target")
		if a.Writable {
			doc["temperature_command_topic"] = set
			doc["temperature_command_template"] = commandTemplate("target")
		}
		if a.Ranged {
			doc["min_temp"], doc["max_temp"] = a.Min, a.Max
		}
		if a.Step > 0 {
			doc["temp_step"] = a.Step
		}
		switch a.Unit {
		case "°C", "C":
			doc["temperature_unit"] = "C"
		case "°F", "F":
			doc["temperature_unit"] = "F"
		}
	}
	for _, lh := range []struct{ ha, ours string }{{"low", "target_low"}, {"high", "target_high"}} {
		if a, ok := attr(lh.ours); ok {
			doc["temperature_"+lh.ha+"_state_topic"] = state
			doc["temperature_"+lh.ha+"_state_template"] = valueTemplate(lh.ours)
			if a.Writable {
				doc["temperature_"+lh.ha+"_command_topic"] = set
				doc["temperature_"+lh.ha+"_command_template"] = commandTemplate(lh.ours)
			}
		}
	}
	if _, ok := attr("current"); ok {
		doc["current_temperature_topic"] = state
		doc["current_temperature_template"] = valueTemplate("current")
	}
	if _, ok := attr("humidity"); ok {
		doc["current_humidity_topic"] = state
		doc["current_humidity_template"] = valueTemplate("humidity")
	}
	if _, ok := attr("action"); ok {
		doc["action_topic"] = state
		doc["action_template"] = valueTemplate("action")
	}
	if a, ok := attr("fan_mode"); ok && len(a.Options) > 0 {
		doc["fan_modes"] = a.Options
		doc["fan_mode_state_topic"] = state
		doc["fan_mode_state_template"] = valueTemplate("fan_mode")
		if a.Writable {
			doc["fan_mode_command_topic"] = set
			doc["fan_mode_command_template"] = commandTemplate("fan_mode")
		}
	}
	return doc
}

func switchConfig(name, state, set string) map[string]any {
	return map[string]any{
		"command_topic":  set,
		"payload_on":     fmt.Sprintf(`{%q:true}`, name),
		"payload_off":    fmt.Sprintf(`{%q:false}`, name),
		"state_topic":    state,
		"value_template": "{{ 'ON' if value_json." + name + " else 'OFF' }}",
		"state_on":       "ON",
		"state_off":      "OFF",
	}
}

// valueTemplate reads one attribute of the bridge's JSON state.
func valueTemplate(name string) string { return "{{ value_json." + name + " }}" }

// commandTemplate makes the bridge's JSON command {"<name>": value}.
func commandTemplate(name string) string { return "{{ {'" + name + "': value} | to_json }}" }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
