package daemon

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/hub"
)

// deviceConfig is testConfig with the broker on a free port and devices:
// an ESPHome sensor, zigbee2mqtt contacts, a Tasmota plug and a sensor
// that goes stale after 300ms.
func deviceConfig(tb testing.TB) *Config {
	tb.Helper()
	cfg := testConfig(tb)
	cfg.MQTT.Listen = "127.0.0.1:0"
	cfg.MQTT.Devices = []MQTTDeviceConfig{
		{ID: "sensor.garage", Name: "Garage",
			Availability: MQTTAvailabilityConfig{Topic: "devices/garage/status"},
			Attributes:   []MQTTAttributeConfig{{Name: "temperature", Topic: "devices/garage/sensor/temperature/state"}}},
		{ID: "contact.back_door",
			Availability: MQTTAvailabilityConfig{Topic: "zigbee2mqtt/back_door/availability", Path: "$.state"},
			Attributes:   []MQTTAttributeConfig{{Name: "closed", Topic: "zigbee2mqtt/back_door", Path: "$.contact"}}},
		{ID: "contact.window",
			Attributes: []MQTTAttributeConfig{{Name: "closed", Topic: "zigbee2mqtt/window", Path: "$.state.open", Invert: true}}},
		{ID: "sensor.plug",
			Attributes: []MQTTAttributeConfig{
				{Name: "power", Topic: "tele/plug/SENSOR", Path: "$.ENERGY.Power", Unit: "W"},
				{Name: "voltage", Topic: "tele/plug/SENSOR", Path: "$.ENERGY.Voltage[0]", Unit: "V"},
				{Name: "firmware", Topic: "tele/plug/INFO", Type: "string"},
			}},
		{ID: "sensor.shed", StaleAfter: Duration(300 * time.Millisecond),
			Attributes: []MQTTAttributeConfig{{Name: "humidity", Topic: "devices/shed/humidity"}}},
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatalf("Validate()=%v", err)
	}
	return cfg
}

// mosquittoPub publishes with Debian's mosquitto_pub (MQTT 3.1.1, QoS 1).
func mosquittoPub(t *testing.T, addr, user, pw, topic, payload string, retain bool) {
	t.Helper()
	args := []string{"-u", user, "-P", pw, "-q", "1", "-t", topic, "-m", payload}
	if retain {
		args = append(args, "-r")
	}
	if out, code := mosquitto(t, addr, "mosquitto_pub", args...); code != 0 {
		t.Fatalf("mosquitto_pub -t %s: exit status %d\n%s", topic, code, out)
	}
}

// pahoPub publishes at QoS 1 and waits for the acknowledgement.
func pahoPub(tb testing.TB, c *paho.Client, topic, payload string, retain bool) {
	tb.Helper()
	if err := pahoTry(c, topic, payload, retain); err != nil {
		tb.Fatalf("publish %s: %v", topic, err)
	}
}

// pahoTry publishes at QoS 1 and returns what the broker answered.
func pahoTry(c *paho.Client, topic, payload string, retain bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: []byte(payload)})
	return err
}

// entity reads an entity through the API.
func entity(tb testing.TB, r *running, id string) *hub.Snapshot {
	tb.Helper()
	e, err := r.client.Entity(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// waitValue waits until the entity is available with attribute a at want.
func waitValue(tb testing.TB, r *running, id, a, want string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e := entity(tb, r, id)
		if e.Available && e.Attrs[a].String() == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s.%s = %v (available %v, %q), want %s", id, a, e.Attrs[a], e.Available, e.Error, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitUnavailable waits until the entity is unavailable with an error
// containing why.
func waitUnavailable(tb testing.TB, r *running, id, why string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e := entity(tb, r, id)
		if !e.Available && strings.Contains(e.Error, why) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: available %v, error %q; want unavailable with %q", id, e.Available, e.Error, why)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// awaitPayload returns the next message on topic whose payload contains
// want.
func awaitPayload(tb testing.TB, msgs <-chan *paho.Publish, topic, want string) *paho.Publish {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-msgs:
			if m.Topic == topic && strings.Contains(string(m.Payload), want) {
				return m
			}
		case <-deadline:
			tb.Fatalf("no message on %s containing %s", topic, want)
			return nil
		}
	}
}

func TestMQTTDevices_ESPHome(t *testing.T) {
	r := MustStart(t, deviceConfig(t))
	addr := r.d.broker.Addr()
	if e := entity(t, r, "sensor.garage"); e.Available || !strings.Contains(e.Error, "no message yet on devices/garage/sensor/temperature/state") {
		t.Fatalf("before any message: available %v, error %q; want unavailable, no message yet", e.Available, e.Error)
	}
	pw := mqttUser(t, r, "garage", "device")
	haPW := mqttUser(t, r, "ha", "integration")
	ha, msgs, err := mqttConnect(t, addr, "ha", haPW)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ha.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "hearth/sensor/garage/state", QoS: 1}, {Topic: "homeassistant/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	// Home Assistant discovery announces the foreign entities like the others.
	want := map[string]string{
		"homeassistant/sensor/hearth/sensor_garage_temperature/config": `"unit_of_measurement":"°C"`,
		"homeassistant/binary_sensor/hearth/contact_back_door/config":  `"device_class":"door"`,
	}
	for deadline := time.After(10 * time.Second); len(want) > 0; {
		select {
		case m := <-msgs:
			if w, ok := want[m.Topic]; ok && strings.Contains(string(m.Payload), w) {
				delete(want, m.Topic)
			}
		case <-deadline:
			t.Fatalf("no discovery config (with its detail) on %v", want)
		}
	}
	events := r.d.hub.Bus().Subscribe("test", 4096, func(ev *hub.Event) bool { return ev.Entity == "sensor.garage" })
	defer events.Close()

	// Retained, from Debian's mosquitto_pub, as ESPHome publishes.
	mosquittoPub(t, addr, "garage", pw, "devices/garage/sensor/temperature/state", "21.5", true)
	waitValue(t, r, "sensor.garage", "temperature", "21.5 °C")
	if e := entity(t, r, "sensor.garage"); e.Attrs["temperature"].Unit() != "°C" || e.Name != "Garage" {
		t.Fatalf("entity = %+v, want name Garage, unit °C", e)
	}
	awaitPayload(t, msgs, "hearth/sensor/garage/state", `"temperature":21.5`)

	// Not retained, from paho (MQTT 5).
	esp, _, err := mqttConnect(t, addr, "garage", pw)
	if err != nil {
		t.Fatal(err)
	}
	pahoPub(t, esp, "devices/garage/sensor/temperature/state", "22.25", false)
	waitValue(t, r, "sensor.garage", "temperature", "22.25 °C")
	awaitPayload(t, msgs, "hearth/sensor/garage/state", `"temperature":22.25`)

	// Each change is an event caused by the device's user, and a history row.
	var causes []string
	evs, _ := events.Drain(nil)
	for _, ev := range evs {
		for _, c := range ev.Changes {
			if c.Attr == "temperature" {
				causes = append(causes, fmt.Sprintf("%s %s %v", ev.Source, ev.Cause, c.New))
			}
		}
	}
	if got, want := strings.Join(causes, "; "), "mqtt mqtt:garage 21.5 °C; mqtt mqtt:garage 22.25 °C"; got != want {
		t.Fatalf("temperature events: %s\nwant %s", got, want)
	}
	waitFor(t, func() bool {
		h, err := r.client.History(context.Background(), "sensor.garage", api.HistoryQuery{Attr: "temperature", Since: time.Hour})
		if err != nil || len(h.Series) != 1 {
			return false
		}
		var got []string
		for _, p := range h.Series[0].Points {
			got = append(got, fmt.Sprint(p.Value))
		}
		return strings.Join(got, " ") == "21.5 22.25" && h.Series[0].Unit == "°C"
	})

	// A device may not publish for another: the ACL keeps garage in its subtree.
	if err := pahoTry(esp, "tele/plug/SENSOR", `{"ENERGY":{"Power":5,"Voltage":[230]}}`, false); err == nil {
		t.Fatal("a device user's publish outside devices/garage/ was acknowledged")
	}
	pahoPub(t, esp, "devices/garage/sensor/temperature/state", "23", false)
	waitValue(t, r, "sensor.garage", "temperature", "23 °C")
	if e := entity(t, r, "sensor.plug"); e.Available || e.Attrs["power"].Valid() {
		t.Fatalf("sensor.plug = %+v after a refused publish, want no value", e)
	}
}

func TestMQTTDevices_Zigbee2MQTTAndTasmota(t *testing.T) {
	r := MustStart(t, deviceConfig(t))
	addr := r.d.broker.Addr()
	pw := mqttUser(t, r, "bridge", "admin") // zigbee2mqtt and tasmota publish outside devices/<user>/
	z, _, err := mqttConnect(t, addr, "bridge", pw)
	if err != nil {
		t.Fatal(err)
	}
	pahoPub(t, z, "zigbee2mqtt/back_door", `{"battery":97,"contact":true,"linkquality":120}`, true)
	waitValue(t, r, "contact.back_door", "closed", "true")
	pahoPub(t, z, "zigbee2mqtt/back_door", `{"battery":97,"contact":false}`, false)
	waitValue(t, r, "contact.back_door", "closed", "false")

	// invert: this device says open where Hearth says closed.
	pahoPub(t, z, "zigbee2mqtt/window", `{"state":{"open":"ON"}}`, false)
	waitValue(t, r, "contact.window", "closed", "false")
	mosquittoPub(t, addr, "bridge", pw, "zigbee2mqtt/window", `{"state":{"open":0}}`, false)
	waitValue(t, r, "contact.window", "closed", "true")

	// Availability from a JSON payload.
	pahoPub(t, z, "zigbee2mqtt/back_door/availability", `{"state":"offline"}`, true)
	waitUnavailable(t, r, "contact.back_door", "zigbee2mqtt/back_door/availability said offline")
	if got := text(t, r, "contact.back_door", "closed"); got != "false" {
		t.Fatalf("closed = %s while offline, want the last value false", got)
	}
	pahoPub(t, z, "zigbee2mqtt/back_door/availability", `{"state":"online"}`, true)
	waitValue(t, r, "contact.back_door", "closed", "false")

	// Tasmota: two attributes from one message, a string from another topic.
	mosquittoPub(t, addr, "bridge", pw, "tele/plug/SENSOR", `{"Time":"2026-11-25T05:00:00","ENERGY":{"Power":41.5,"Voltage":[231,0]}}`, false)
	waitValue(t, r, "sensor.plug", "power", "41.5 W")
	waitValue(t, r, "sensor.plug", "voltage", "231 V")
	mosquittoPub(t, addr, "bridge", pw, "tele/plug/INFO", "13.4.0(tasmota)", false)
	waitValue(t, r, "sensor.plug", "firmware", "13.4.0(tasmota)")
}

func TestMQTTDevices_Availability(t *testing.T) {
	r := MustStart(t, deviceConfig(t))
	addr := r.d.broker.Addr()
	pw := mqttUser(t, r, "garage", "device")

	// ESPHome's birth and will: online at connect, offline when it drops.
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "garage-esp", CleanStart: true, KeepAlive: 30,
		Username: "garage", UsernameFlag: true, Password: []byte(pw), PasswordFlag: true,
		WillMessage: &paho.WillMessage{Topic: "devices/garage/status", Payload: []byte("offline"), QoS: 1, Retain: true}}); err != nil {
		t.Fatal(err)
	}
	pahoPub(t, c, "devices/garage/status", "online", true)
	pahoPub(t, c, "devices/garage/sensor/temperature/state", "19", true)
	waitValue(t, r, "sensor.garage", "temperature", "19 °C")
	conn.Close() // no DISCONNECT: the broker sends the will
	waitUnavailable(t, r, "sensor.garage", "devices/garage/status said offline")
	if v, _ := entity(t, r, "sensor.garage").Attrs["temperature"].Float(); v != 19 {
		t.Fatalf("temperature = %v while offline, want the last value 19", v)
	}

	// Plain availability payloads, from mosquitto_pub; others are refused.
	mosquittoPub(t, addr, "garage", pw, "devices/garage/status", "online", true)
	waitValue(t, r, "sensor.garage", "temperature", "19 °C")
	mosquittoPub(t, addr, "garage", pw, "devices/garage/status", "maybe", false)
	mosquittoPub(t, addr, "garage", pw, "devices/garage/status", "offline", false)
	waitUnavailable(t, r, "sensor.garage", "devices/garage/status said offline")

	// Staleness: no message for stale_after makes it unavailable; the
	// next message makes it available again.
	g, _, err := mqttConnect(t, addr, "garage", pw)
	if err != nil {
		t.Fatal(err)
	}
	if err := pahoTry(g, "devices/shed/humidity", "1", false); err == nil {
		t.Fatal("garage's publish to devices/shed/ was acknowledged")
	}
	waitUnavailable(t, r, "sensor.shed", "no message yet on devices/shed/humidity")
	spw := mqttUser(t, r, "shed", "device")
	mosquittoPub(t, addr, "shed", spw, "devices/shed/humidity", "55.5", false)
	waitUnavailable(t, r, "sensor.shed", "no message for 300ms")
	if v, _ := entity(t, r, "sensor.shed").Attrs["humidity"].Float(); v != 55.5 {
		t.Fatalf("humidity = %v once stale, want the last value 55.5", v)
	}
	// Available again for a while only: the bus tells, not a poll.
	events := r.d.hub.Bus().Subscribe("test", 4096, func(ev *hub.Event) bool { return ev.Entity == "sensor.shed" })
	defer events.Close()
	mosquittoPub(t, addr, "shed", spw, "devices/shed/humidity", "56", false)
	var got []string
	deadline := time.After(10 * time.Second)
	for !strings.Contains(strings.Join(got, " "), "humidity=56% available=true available=false") {
		select {
		case <-events.Ready():
			evs, _ := events.Drain(nil)
			for _, ev := range evs {
				for _, c := range ev.Changes {
					got = append(got, c.Attr+"="+c.New.String())
				}
			}
		case <-deadline:
			t.Fatalf("sensor.shed changes: %v; want humidity=56%%, available again, then stale again", got)
		}
	}
}

func TestMQTTDevices_Garbage(t *testing.T) {
	cfg := deviceConfig(t)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "hearthd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	logs := func() string {
		b, err := os.ReadFile(logFile.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	d, err := New(cfg, logFile)
	if err != nil {
		t.Fatal(err)
	}
	stop := startServe(t, d)
	t.Cleanup(func() {
		stop()
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	r := &running{d: d, client: api.NewUnix(cfg.API.Socket)}
	addr := d.broker.Addr()
	pw := mqttUser(t, r, "bridge", "admin")
	c, _, err := mqttConnect(t, addr, "bridge", pw)
	if err != nil {
		t.Fatal(err)
	}
	pahoPub(t, c, "devices/garage/sensor/temperature/state", "20.5", false)
	pahoPub(t, c, "zigbee2mqtt/back_door", `{"contact":true}`, false)
	waitValue(t, r, "sensor.garage", "temperature", "20.5 °C")
	waitValue(t, r, "contact.back_door", "closed", "true")

	huge := `{"contact":false,"pad":"` + strings.Repeat("x", maxDevicePayload) + `"}`
	bad := []struct{ topic, payload string }{
		{"devices/garage/sensor/temperature/state", "warm"},
		{"devices/garage/sensor/temperature/state", "nan"},
		{"devices/garage/sensor/temperature/state", `{"value":21}`},
		{"devices/garage/sensor/temperature/state", ""},
		{"devices/garage/sensor/temperature/state", "\xff\xfe"},
		{"devices/garage/sensor/temperature/state", "1e999"},
		{"zigbee2mqtt/back_door", "contact=false"},
		{"zigbee2mqtt/back_door", `{"battery":90}`},
		{"zigbee2mqtt/back_door", `{"contact":"ajar"}`},
		{"zigbee2mqtt/back_door", `{"contact":null}`},
		{"zigbee2mqtt/back_door", `[{"contact":false}]`},
		{"zigbee2mqtt/back_door", huge},
		{"zigbee2mqtt/back_door/availability", `{"state":"sleepy"}`},
	}
	for _, b := range bad {
		pahoPub(t, c, b.topic, b.payload, false)
	}
	// A good message after the bad ones: once it is in, they have all been read.
	pahoPub(t, c, "tele/plug/SENSOR", `{"ENERGY":{"Power":3,"Voltage":[229]}}`, false)
	waitValue(t, r, "sensor.plug", "power", "3 W")
	if got := text(t, r, "sensor.garage", "temperature"); got != "20.5 °C" {
		t.Errorf("temperature = %s after garbage, want the last value 20.5 °C", got)
	}
	if got := text(t, r, "contact.back_door", "closed"); got != "true" {
		t.Errorf("closed = %s after garbage, want the last value true", got)
	}
	if got, want := badPayloads(t, d), map[string]float64{"sensor.garage": 6, "contact.back_door": 7}; !maps.Equal(got, want) {
		t.Errorf("bad payloads counted: %v, want %v", got, want)
	}
	// Logged once per device per minute, not once per message.
	if got := strings.Count(logs(), "bad mqtt payload"); got != 2 {
		t.Errorf("%d bad-payload log lines, want 2 (one per device):\n%s", got, logs())
	}
	if !strings.Contains(logs(), `want a number, got \"warm\"`) {
		t.Errorf("log does not say what was wrong with the first bad payload:\n%s", logs())
	}
	h, err := r.client.Health(context.Background())
	if err != nil || h.Status != "ok" {
		t.Fatalf("health = %+v, %v; want ok", h, err)
	}
	pahoPub(t, c, "devices/garage/sensor/temperature/state", "21", false)
	waitValue(t, r, "sensor.garage", "temperature", "21 °C")
}

// badPayloads reads hearth_mqtt_device_bad_payloads_total by entity.
func badPayloads(tb testing.TB, d *Daemon) map[string]float64 {
	tb.Helper()
	mfs, err := d.metrics.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "hearth_mqtt_device_bad_payloads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				out[m.GetLabel()[0].GetValue()] = v
			}
		}
	}
	return out
}

// readmeBlock returns the body of the first fenced block of language
// lang that holds marker, in the section of README.md under heading.
func readmeBlock(tb testing.TB, heading, lang, marker string) string {
	tb.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		tb.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n"+heading+"\n")
	if !ok {
		tb.Fatalf("README.md has no %q section", heading)
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	for rest := section; ; {
		var body string
		if _, rest, ok = strings.Cut(rest, "\n```"+lang+"\n"); !ok {
			tb.Fatalf("README.md: no ```%s block with %q under %q", lang, marker, heading)
		}
		if body, rest, ok = strings.Cut(rest, "\n```\n"); !ok {
			tb.Fatalf("README.md: an unterminated ```%s block under %q", lang, heading)
		}
		if strings.Contains(body, marker) {
			return body + "\n"
		}
	}
}

func TestMQTTDevices_ReadmeExample(t *testing.T) {
	const heading = "## An ESPHome sensor as a Hearth entity"
	snippet := readmeBlock(t, heading, "yaml", "devices:")
	parsed, err := ParseConfig(strings.NewReader(snippet))
	if err != nil {
		t.Fatalf("the README's config does not parse: %v\n%s", err, snippet)
	}
	cfg := testConfig(t)
	cfg.MQTT = parsed.MQTT
	if cfg.MQTT.Listen != "127.0.0.1:1883" {
		t.Fatalf("README listens on %q, want 127.0.0.1:1883", cfg.MQTT.Listen)
	}
	cfg.MQTT.Listen = "127.0.0.1:0"
	r := MustStart(t, cfg)
	addr := r.d.broker.Addr()
	pw := mqttUser(t, r, "garage", "device") // hearth mqtt user add garage
	// What ESPHome with topic_prefix devices/garage publishes: its birth
	// message and a sensor named "Temperature".
	mosquittoPub(t, addr, "garage", pw, "devices/garage/status", "online", true)
	mosquittoPub(t, addr, "garage", pw, "devices/garage/sensor/temperature/state", "21.5", true)
	mosquittoPub(t, addr, "garage", pw, "devices/garage/sensor/humidity/state", "48", true)
	waitValue(t, r, "sensor.garage", "temperature", "21.5 °C")
	waitValue(t, r, "sensor.garage", "humidity", "48%")
	if e := entity(t, r, "sensor.garage"); e.Name != "Garage" {
		t.Errorf("name = %q, want Garage", e.Name)
	}
	// The README shows what `hearth get sensor.garage` prints.
	out := readmeBlock(t, heading, "console", "get sensor.garage")
	if !strings.Contains(out, "$ bin/hearth --socket var/hearthd.sock get sensor.garage") || !strings.Contains(out, "temperature  21.5 °C") || !strings.Contains(out, "humidity     48%") {
		t.Errorf("README's get example does not show sensor.garage at 21.5 °C and 48%%:\n%s", out)
	}
}

func TestMQTTDevices_DocsExamples(t *testing.T) {
	raw, err := os.ReadFile("../docs/MQTT_DEVICES.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, block := range strings.Split(string(raw), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(block, "```")
		if !strings.Contains(body, "devices:") {
			continue
		}
		n++
		if !strings.Contains(body, "listen:") { // the snippets leave the listener out
			body = strings.Replace(body, "mqtt:\n", "mqtt:\n  listen: 127.0.0.1:1883\n", 1)
		}
		c, err := ParseConfig(strings.NewReader(body))
		if err != nil {
			t.Errorf("docs/MQTT_DEVICES.md example %d: %v\n%s", n, err, body)
			continue
		}
		if len(c.MQTT.Devices) == 0 {
			t.Errorf("docs/MQTT_DEVICES.md example %d has no devices", n)
		}
	}
	if n != 3 {
		t.Fatalf("%d examples with devices in docs/MQTT_DEVICES.md, want 3", n)
	}
}
