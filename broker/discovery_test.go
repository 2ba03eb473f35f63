package broker

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hearth-hub/hearth/hub"
)

// discoveryHub is newHub's hub (with number.setpoint) plus a thermostat, a
// lock, a sensor, a contact and a switch.
func discoveryHub(t *testing.T) *hub.Hub {
	t.Helper()
	h, _ := newHub(t)
	setter := func(id hub.ID) hub.Handler {
		return hub.HandlerFunc(func(_ context.Context, cmd hub.Command) error {
			_, err := h.Update(id, cmd.Source, cmd.Principal, cmd.Args)
			return err
		})
	}
	reg := func(e hub.Entity, initial map[string]hub.Value) {
		t.Helper()
		if err := h.Register(e, initial); err != nil {
			t.Fatal(err)
		}
	}
	reg(hub.Entity{
		ID: "thermostat.living_room", Name: "Living Room", Handler: setter("thermostat.living_room"),
		Attrs: []hub.AttrSpec{
			{Name: "mode", Type: hub.TypeEnum, Options: []string{"off", "heat", "cool", "auto"}, Writable: true},
			{Name: "target", Type: hub.TypeNumber, Unit: "°C", Ranged: true, Min: 7, Max: 30, Step: 0.5, Writable: true},
			{Name: "current", Type: hub.TypeNumber, Unit: "°C"},
			{Name: "action", Type: hub.TypeEnum, Options: []string{"off", "idle", "heating", "cooling"}},
		},
	}, map[string]hub.Value{"mode": hub.Enum("heat"), "target": hub.Number(20, "°C"), "current": hub.Number(19.5, "°C"), "action": hub.Enum("heating")})
	reg(hub.Entity{
		ID: "lock.front_door", Name: "Front Door",
		Handler: hub.HandlerFunc(func(_ context.Context, cmd hub.Command) error {
			_, err := h.Update("lock.front_door", cmd.Source, cmd.Principal, map[string]hub.Value{"state": hub.Enum(cmd.Action + "ed")})
			return err
		}),
		Attrs:   []hub.AttrSpec{{Name: "state", Type: hub.TypeEnum, Options: []string{"locked", "unlocked", "locking", "unlocking", "jammed", "unknown"}}},
		Actions: []hub.ActionSpec{{Name: "lock", Critical: true}, {Name: "unlock", Critical: true}},
	}, map[string]hub.Value{"state": hub.Enum("unlocked")})
	reg(hub.Entity{
		ID: "sensor.climate", Name: "Climate",
		Attrs: []hub.AttrSpec{
			{Name: "temperature", Type: hub.TypeNumber, Unit: "°C"},
			{Name: "humidity", Type: hub.TypeNumber, Unit: "%"},
			{Name: "pressure", Type: hub.TypeNumber, Unit: "hPa"},
		},
	}, map[string]hub.Value{"temperature": hub.Number(21, "°C")})
	reg(hub.Entity{ID: "contact.back_door", Name: "Back Door", Attrs: []hub.AttrSpec{{Name: "closed", Type: hub.TypeBool}}},
		map[string]hub.Value{"closed": hub.Bool(true)})
	reg(hub.Entity{ID: "switch.heat", Name: "Heat", Handler: setter("switch.heat"), Attrs: []hub.AttrSpec{{Name: "on", Type: hub.TypeBool, Writable: true}}},
		map[string]hub.Value{"on": hub.Bool(false)})
	return h
}

// discoveryUsers adds "hass", an integration that may also publish Home
// Assistant's birth message (the integration role alone may not).
func discoveryUsers(t *testing.T) *MemUsers {
	u := testUsers(t)
	u.Put(User{Name: "hass", Hash: hash(t, "pw-hass"), Role: RoleIntegration,
		Filters: []ACL{{Filter: "homeassistant/status", Write: true}}})
	return u
}

func startDiscovery(t *testing.T, h *hub.Hub) (*Broker, *DiscoveryHook) {
	t.Helper()
	b := startBroker(t, Options{Users: discoveryUsers(t), Hub: h})
	d := new(DiscoveryHook)
	if err := b.Server().AddHook(d, &DiscoveryOptions{Hub: h, Server: b.Server()}); err != nil {
		t.Fatal(err)
	}
	d.Publish()
	return b, d
}

var wantConfigs = map[string]string{ // topic: component
	"homeassistant/climate/hearth/thermostat_living_room/config":    "climate",
	"homeassistant/lock/hearth/lock_front_door/config":              "lock",
	"homeassistant/sensor/hearth/sensor_climate_temperature/config": "sensor",
	"homeassistant/sensor/hearth/sensor_climate_humidity/config":    "sensor",
	"homeassistant/sensor/hearth/sensor_climate_pressure/config":    "sensor",
	"homeassistant/binary_sensor/hearth/contact_back_door/config":   "binary_sensor",
	"homeassistant/switch/hearth/switch_heat/config":                "switch",
	"homeassistant/number/hearth/number_setpoint/config":            "number",
}

// collect reads messages until one has come on each of the topics.
func collect(t *testing.T, c *client, topics map[string]string) map[string]*paho.Publish {
	t.Helper()
	got := map[string]*paho.Publish{}
	deadline := time.After(waitFor)
	for len(got) < len(topics) {
		select {
		case m := <-c.msgs:
			if _, ok := topics[m.Topic]; ok {
				got[m.Topic] = m
			}
		case <-deadline:
			var missing []string
			for tp := range topics {
				if got[tp] == nil {
					missing = append(missing, tp)
				}
			}
			t.Fatalf("no config within %v on %q", waitFor, missing)
		}
	}
	return got
}

func decodeConfig(t *testing.T, m *paho.Publish) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(m.Payload, &doc); err != nil {
		t.Fatalf("%s: %v: %s", m.Topic, err, m.Payload)
	}
	return doc
}

func TestDiscovery(t *testing.T) {
	h := discoveryHub(t)
	b, _ := startDiscovery(t, h)
	ha := mustDial(t, b, "hass", "pw-hass")
	if err := ha.sub(t, "homeassistant/#"); err != nil {
		t.Fatal(err)
	}
	docs := map[string]map[string]any{}
	for topic, m := range collect(t, ha, wantConfigs) {
		if !m.Retain {
			t.Errorf("%s: not retained", topic)
		}
		doc := decodeConfig(t, m)
		docs[topic] = doc
		for _, k := range []string{"name", "unique_id", "state_topic", "availability_topic", "device"} {
			if k == "state_topic" && wantConfigs[topic] == "climate" {
				k = "mode_state_topic"
			}
			if doc[k] == nil {
				t.Errorf("%s: no %s in %s", topic, k, m.Payload)
			}
		}
		dev, _ := doc["device"].(map[string]any)
		if dev["name"] != "Hearth" || !slices.Equal(anyStrings(dev["identifiers"]), []string{"hearth"}) {
			t.Errorf("%s: device %v", topic, dev)
		}
		if doc["availability_topic"] != StatusTopic {
			t.Errorf("%s: availability_topic %v", topic, doc["availability_topic"])
		}
		switch wantConfigs[topic] {
		case "lock", "switch", "number":
			if doc["command_topic"] == nil {
				t.Errorf("%s: no command_topic", topic)
			}
		}
	}
	uids := map[any]bool{}
	for topic, doc := range docs {
		if uids[doc["unique_id"]] {
			t.Errorf("%s: unique_id %v used twice", topic, doc["unique_id"])
		}
		uids[doc["unique_id"]] = true
	}

	climate := docs["homeassistant/climate/hearth/thermostat_living_room/config"]
	for k, want := range map[string]any{
		"temperature_command_topic": "hearth/thermostat/living_room/set",
		"mode_command_topic":        "hearth/thermostat/living_room/set",
		"current_temperature_topic": "hearth/thermostat/living_room/state",
		"action_topic":              "hearth/thermostat/living_room/state",
		"min_temp":                  7.0,
		"max_temp":                  30.0,
		"temp_step":                 0.5,
		"temperature_unit":          "C",
		"unique_id":                 "hearth_thermostat_living_room",
	} {
		if climate[k] != want {
			t.Errorf("climate %s = %v, want %v", k, climate[k], want)
		}
	}
	if got := anyStrings(climate["modes"]); !slices.Equal(got, []string{"off", "heat", "cool", "auto"}) {
		t.Errorf("climate modes %q", got)
	}
	lock := docs["homeassistant/lock/hearth/lock_front_door/config"]
	for k, want := range map[string]any{
		"command_topic": "hearth/lock/front_door/set", "state_topic": "hearth/lock/front_door/state",
		"payload_lock": `{"action":"lock"}`, "payload_unlock": `{"action":"unlock"}`,
		"state_locked": "locked", "state_unlocked": "unlocked", "state_jammed": "jammed",
		"state_locking": "locking", "state_unlocking": "unlocking",
	} {
		if lock[k] != want {
			t.Errorf("lock %s = %v, want %v", k, lock[k], want)
		}
	}
	temp := docs["homeassistant/sensor/hearth/sensor_climate_temperature/config"]
	if temp["device_class"] != "temperature" || temp["unit_of_measurement"] != "°C" || temp["value_template"] != "{{ value_json.temperature }}" {
		t.Errorf("temperature sensor %v", temp)
	}
	if p := docs["homeassistant/sensor/hearth/sensor_climate_pressure/config"]; p["device_class"] != "pressure" || p["unit_of_measurement"] != "hPa" {
		t.Errorf("pressure sensor %v", p)
	}
	if c := docs["homeassistant/binary_sensor/hearth/contact_back_door/config"]; c["device_class"] != "door" || c["payload_on"] != "ON" {
		t.Errorf("contact %v", c)
	}
	if n := docs["homeassistant/number/hearth/number_setpoint/config"]; n["min"] != 5.0 || n["max"] != 30.0 || n["unit_of_measurement"] != "°C" {
		t.Errorf("number %v", n)
	}

	// What Home Assistant sends on the command topics works: the lock's
	// payload as it stands, the climate's as its template renders it.
	if err := ha.pub(t, lock["command_topic"].(string), lock["payload_lock"].(string)); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, "lock.front_door", "state", hub.Enum("locked"))
	if err := ha.pub(t, climate["temperature_command_topic"].(string), `{"target": 21.5}`); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, "thermostat.living_room", "target", hub.Number(21.5, "°C"))
	if err := ha.pub(t, climate["mode_command_topic"].(string), `{"mode": "cool"}`); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, "thermostat.living_room", "mode", hub.Enum("cool"))

	// Home Assistant's birth message brings every config again.
	if err := ha.pub(t, "homeassistant/status", "online"); err != nil {
		t.Fatal(err)
	}
	for topic, m := range collect(t, ha, wantConfigs) {
		decodeConfig(t, m)
		_ = topic
	}
}

// A late subscriber gets the retained configs; an entity that goes away
// has its config cleared at the next publish.
func TestDiscoveryRetainedAndRemoved(t *testing.T) {
	h := discoveryHub(t)
	b, d := startDiscovery(t, h)
	if err := h.Unregister("switch.heat"); err != nil {
		t.Fatal(err)
	}
	d.Publish()
	ha := mustDial(t, b, "ha", "pw-ha")
	if err := ha.sub(t, "homeassistant/#"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for k, v := range wantConfigs {
		if v != "switch" {
			want[k] = v
		}
	}
	got := collect(t, ha, want)
	for topic, m := range got {
		if !m.Retain {
			t.Errorf("%s: not retained", topic)
		}
	}
	// No retained switch config remains: the retained messages all come
	// together at subscribe, before this marker.
	if err := b.Server().Publish("homeassistant/marker", []byte("x"), false, 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-ha.msgs:
			if m.Topic == "homeassistant/switch/hearth/switch_heat/config" {
				t.Fatalf("removed entity's config still retained: %q", m.Payload)
			}
			if m.Topic == "homeassistant/marker" {
				return
			}
		case <-deadline:
			t.Fatal("no marker")
		}
	}
}

func TestDiscoveryInit(t *testing.T) {
	h, _ := newHub(t)
	b := startBroker(t, Options{Users: testUsers(t)})
	for _, c := range []any{nil, DiscoveryOptions{Hub: h, Server: b.Server()}, &DiscoveryOptions{Hub: h},
		&DiscoveryOptions{Hub: h, Server: b.Server(), NodeID: "bad/id"}, &DiscoveryOptions{Hub: h, Server: b.Server(), Prefix: "ha/#"}} {
		if err := new(DiscoveryHook).Init(c); err == nil {
			t.Errorf("Init(%#v) accepted", c)
		}
	}
	d := new(DiscoveryHook)
	if err := d.Init(&DiscoveryOptions{Hub: h, Server: b.Server(), Prefix: "ha", NodeID: "hub01"}); err != nil {
		t.Fatal(err)
	}
	cs := d.Configs()
	if len(cs) != 1 || cs[0].Topic != "ha/number/hub01/number_setpoint/config" || cs[0].Payload["unique_id"] != "hub01_number_setpoint" {
		t.Errorf("configs %+v", cs)
	}
	if d.BirthTopic() != "ha/status" {
		t.Errorf("birth topic %s", d.BirthTopic())
	}
}

func waitState(t *testing.T, h *hub.Hub, id hub.ID, attr string, want hub.Value) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		s, ok := h.Get(id)
		if ok && s.Attrs[attr].Equal(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s = %v, want %v", id, attr, s.Attrs[attr], want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
