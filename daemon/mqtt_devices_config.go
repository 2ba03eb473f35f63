package daemon

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/hearth-hub/hearth/hub"
)

// MQTTDeviceConfig maps one foreign device's MQTT topics to an entity,
// one entry of mqtt.devices:
//
//	devices:
//	  - id: sensor.garage
//	    availability: {topic: devices/garage/status}
//	    stale_after: 15m
//	    attributes:
//	      - {name: temperature, topic: devices/garage/sensor/temperature/state}
type MQTTDeviceConfig struct {
	ID   string `yaml:"id"`   // sensor.<name> or contact.<name>: the entity it becomes
	Name string `yaml:"name"` // optional, for people
	// Attributes are the entity's values, each read from one topic.
	Attributes []MQTTAttributeConfig `yaml:"attributes"`
	// Availability is the topic where the device says whether it is online
	// (its will, or zigbee2mqtt's availability topic); none if unset.
	Availability MQTTAvailabilityConfig `yaml:"availability"`
	// StaleAfter makes the entity unavailable when none of its topics has
	// had a message for this long [0: never].
	StaleAfter Duration `yaml:"stale_after"`
}

// MQTTAttributeConfig is one attribute of a foreign device's entity.
type MQTTAttributeConfig struct {
	Name  string `yaml:"name"`  // the attribute: a-z, 0-9 and _; a contact has only "closed"
	Topic string `yaml:"topic"` // the topic (or filter) it is published on
	// Path picks the value out of a JSON payload: $.a.b, $.a[0]; "" or "$"
	// is the whole payload, JSON or plain text like 21.5 or ON.
	Path string `yaml:"path"`
	// Type is number, bool or string [a contact's closed: bool; a
	// sensor's attributes: number].
	Type string `yaml:"type"`
	// Unit of a number [°C, % and hPa for temperature, humidity and
	// pressure; else none].
	Unit string `yaml:"unit"`
	// Invert flips a bool, for a device that says true where Hearth means
	// false (a contact reporting "open").
	Invert bool `yaml:"invert"`
}

// MQTTAvailabilityConfig is where a foreign device says it is online.
type MQTTAvailabilityConfig struct {
	Topic   string `yaml:"topic"`   // [""] none
	Path    string `yaml:"path"`    // [""] as an attribute's path
	Online  string `yaml:"online"`  // [online] the payload that means available
	Offline string `yaml:"offline"` // [offline] the payload that means unavailable
}

// The kinds a foreign device can be, and their attributes' default types.
var mqttDeviceKinds = map[string]string{"sensor": "number", "contact": "bool"}

// Our own topic trees: a device may not be read from them.
var reservedTopics = []string{"hearth", "homeassistant"}

// mqttStaleMin is the shortest stale_after: below it every pause between
// two messages would flap the entity.
const mqttStaleMin = 100 * time.Millisecond

// maxDevicePayload is the largest payload a device's topic is decoded from.
const maxDevicePayload = 64 << 10

// validateMQTTDevices checks mqtt.devices: ids that are new entities of a
// kind the bridge and discovery know, valid topics outside our own trees,
// and paths, types and units that go together.
func (c *Config) validateMQTTDevices(p *problems) {
	if len(c.MQTT.Devices) > 0 && c.MQTT.Listen == "" {
		p.add("mqtt.devices", "foreign devices need the broker: set mqtt.listen (like 127.0.0.1:1883)")
	}
	taken := c.entityOwners()
	for i := range c.MQTT.Devices {
		dv := &c.MQTT.Devices[i]
		at := fmt.Sprintf("mqtt.devices[%d]", i)
		kind := dv.validateID(p, at, taken)
		dv.validateAttributes(p, at, kind)
		if a := dv.Availability; a.Topic != "" {
			checkDeviceTopic(p, at+".availability.topic", a.Topic)
			checkJSONPath(p, at+".availability.path", a.Path)
			on, off := cmp.Or(a.Online, "online"), cmp.Or(a.Offline, "offline")
			if on == off {
				p.add(at+".availability.offline", "must differ from online (%q)", on)
			}
		} else if a != (MQTTAvailabilityConfig{}) {
			p.add(at+".availability.topic", "is required with the other availability settings")
		}
		if s := time.Duration(dv.StaleAfter); s != 0 && s < mqttStaleMin {
			p.add(at+".stale_after", "must be 0 (never stale) or at least %v, got %v", mqttStaleMin, s)
		}
	}
}

// entityOwners names what declares each entity id outside mqtt.devices.
func (c *Config) entityOwners() map[string]string {
	taken := map[string]string{}
	for i, pt := range c.Hardware.Parts {
		if pt.Entity != "" {
			taken[pt.Entity] = fmt.Sprintf("hardware.parts[%d]", i)
		}
	}
	for i, v := range c.Virtual {
		taken[v.ID] = fmt.Sprintf("virtual[%d]", i)
	}
	for i, t := range c.Thermostats {
		taken[t.ID] = fmt.Sprintf("thermostats[%d]", i)
	}
	for i, l := range c.Locks {
		taken[l.ID] = fmt.Sprintf("locks[%d]", i)
	}
	return taken
}

// validateID checks the id and returns its kind ("" when unusable).
func (dv *MQTTDeviceConfig) validateID(p *problems, at string, taken map[string]string) string {
	if dv.ID == "" {
		p.add(at+".id", "is required: sensor.<name> or contact.<name>")
		return ""
	}
	id, err := hub.ParseID(dv.ID)
	if err != nil {
		p.add(at+".id", "%v", err)
		return ""
	}
	if _, ok := mqttDeviceKinds[id.Kind()]; !ok {
		p.add(at+".id", "kind %q: a foreign device is a sensor or a contact, got %q", id.Kind(), dv.ID)
		return ""
	}
	if owner, dup := taken[dv.ID]; dup {
		p.add(at+".id", "%s is already declared by %s", dv.ID, owner)
	} else {
		taken[dv.ID] = at
	}
	return id.Kind()
}

func (dv *MQTTDeviceConfig) validateAttributes(p *problems, at, kind string) {
	if len(dv.Attributes) == 0 {
		p.add(at+".attributes", "is required: at least one {name, topic}")
		return
	}
	seen := map[string]int{}
	for j := range dv.Attributes {
		a := &dv.Attributes[j]
		aat := fmt.Sprintf("%s.attributes[%d]", at, j)
		switch err := checkAttrName(a.Name); {
		case err != nil:
			p.add(aat+".name", "%v", err)
		case kind == "contact" && a.Name != "closed":
			p.add(aat+".name", `a contact has one attribute, "closed", got %q`, a.Name)
		default:
			if first, dup := seen[a.Name]; dup {
				p.add(aat+".name", "duplicate attribute %q: attributes[%d] has it already", a.Name, first)
			}
			seen[a.Name] = j
		}
		if a.Topic == "" {
			p.add(aat+".topic", "is required: the topic the device publishes this value on")
		} else {
			checkDeviceTopic(p, aat+".topic", a.Topic)
		}
		checkJSONPath(p, aat+".path", a.Path)
		if kind == "" {
			continue
		}
		typ := a.typeFor(kind)
		switch {
		case typ != "number" && typ != "bool" && typ != "string":
			p.add(aat+".type", "must be one of number, bool, string; got %q", a.Type)
		case kind == "contact" && typ != "bool":
			p.add(aat+".type", "a contact's closed is a bool, got %q", typ)
		case kind == "sensor" && typ == "bool":
			p.add(aat+".type", "a sensor's attributes are numbers or strings: make a true/false device a contact")
		}
		if a.Unit != "" && typ != "number" {
			p.add(aat+".unit", "only a number has a unit, and this is a %s", typ)
		}
		if a.Invert && typ != "bool" {
			p.add(aat+".invert", "only a bool can be inverted, and this is a %s", typ)
		}
	}
}

// typeFor is the attribute's type, the kind's default when not set.
func (a *MQTTAttributeConfig) typeFor(kind string) string {
	if a.Type != "" {
		return a.Type
	}
	return mqttDeviceKinds[kind]
}

// unit is the attribute's unit, the hardware sensors' when not set.
func (a *MQTTAttributeConfig) unit() string {
	if a.Unit != "" {
		return a.Unit
	}
	return sensorAttrs[a.Name].Unit
}

func checkAttrName(s string) error {
	if s == "" {
		return fmt.Errorf("is required: the attribute's name, like temperature")
	}
	if err := hub.CheckName(s); err != nil {
		return fmt.Errorf("%q %w", s, err)
	}
	return nil
}

// checkDeviceTopic refuses what is not a topic filter, and filters that
// could match our own topics.
func checkDeviceTopic(p *problems, field, topic string) {
	if !mqtt.IsValidFilter(topic, false) || strings.HasPrefix(topic, "$share/") {
		p.add(field, "%q is not a valid MQTT topic filter (levels split by /, + or # only as a whole level, # last)", topic)
		return
	}
	first, _, _ := strings.Cut(topic, "/")
	switch {
	case first == "+" || first == "#":
		p.add(field, "%q starts with a wildcard, so it would match Hearth's own hearth/# topics: name the first level", topic)
	case strings.HasPrefix(first, "$"):
		p.add(field, "%q: topics starting with $ are the broker's own", topic)
	default:
		for _, r := range reservedTopics {
			if first == r {
				p.add(field, "%q is under %s/, Hearth's own topics: a device publishes elsewhere", topic, r)
			}
		}
	}
}

func checkJSONPath(p *problems, field, path string) {
	if _, err := parseJSONPath(path); err != nil {
		p.add(field, "%v", err)
	}
}

// jsonStep is one step of a JSON path: a key, or an index when key is "".
type jsonStep struct {
	key   string
	index int
}

// parseJSONPath reads the subset of JSONPath a device's payload needs: $
// (or "") for the whole payload, then .key and [index] steps, like
// $.ENERGY.Power or $.values[0]. A key is any text without . [ ] or
// spaces.
func parseJSONPath(s string) ([]jsonStep, error) {
	if s == "" || s == "$" {
		return nil, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%s in JSON path %q: want $.key.key or $.key[0]", why, s)
	}
	rest, ok := strings.CutPrefix(s, "$")
	if !ok {
		return nil, bad("no leading $")
	}
	var steps []jsonStep
	for rest != "" {
		switch rest[0] {
		case '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			key := rest[1 : 1+end]
			if key == "" {
				return nil, bad("an empty key")
			}
			if strings.ContainsAny(key, "] \t") {
				return nil, bad(fmt.Sprintf("key %q", key))
			}
			steps = append(steps, jsonStep{key: key})
			rest = rest[1+end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, bad("an unclosed [")
			}
			n, err := strconv.Atoi(rest[1:end])
			if err != nil || n < 0 || rest[1] == '+' {
				return nil, bad(fmt.Sprintf("index %q is not a number from 0", rest[1:end]))
			}
			steps = append(steps, jsonStep{index: n})
			rest = rest[end+1:]
		default:
			return nil, bad(fmt.Sprintf("%q after a step", rest[:1]))
		}
	}
	return steps, nil
}
