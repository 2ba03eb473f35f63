package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hearth-hub/hearth/daemon/api"
)

func mqttPub(t *testing.T, c *paho.Client, topic, payload string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	return err
}

// startWithBroker runs a daemon with its broker on a free loopback port.
func startWithBroker(t *testing.T) (*running, string) {
	t.Helper()
	cfg := testConfig(t)
	cfg.MQTT.Listen = "127.0.0.1:0"
	r := MustStart(t, cfg)
	return r, r.d.broker.Addr()
}

func TestMQTT_ACL(t *testing.T) {
	r, addr := startWithBroker(t)
	ctx := context.Background()

	dev, err := r.client.AddMQTTUser(ctx, "zb", "device")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := r.client.AddMQTTUser(ctx, "root", "admin")
	if err != nil {
		t.Fatal(err)
	}
	dc, _, err := mqttConnect(t, addr, "zb", dev.Password)
	if err != nil {
		t.Fatal(err)
	}
	ac, amsgs, err := mqttConnect(t, addr, "root", adm.Password)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := ac.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "zigbee2mqtt/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	const topic = "zigbee2mqtt/back_door"
	if err := mqttPub(t, dc, topic, `{"contact":true}`); err == nil {
		t.Fatal("device wrote zigbee2mqtt/# before its ACL allowed it")
	}
	a, err := r.client.MQTTACL(ctx, "zb")
	if err != nil {
		t.Fatal(err)
	}
	if a.Role != "device" || len(a.Filters) != 0 || len(a.RoleFilters) != 2 || a.RoleFilters[1].Filter != "devices/zb/#" {
		t.Fatalf("MQTTACL(zb) = %+v, want the device role's two filters and none of its own", a)
	}

	a, err = r.client.AddMQTTACL(ctx, "zb", api.MQTTFilter{Filter: "zigbee2mqtt/#", Write: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Filters, []api.MQTTFilter{{Filter: "zigbee2mqtt/#", Write: true}}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("own filters after add = %+v, want %+v", got, want)
	}
	// The same connection, no reconnect.
	if err := mqttPub(t, dc, topic, `{"contact":false}`); err != nil {
		t.Fatalf("publish after the ACL grant: %v", err)
	}
	select {
	case m := <-amsgs:
		if m.Topic != topic || string(m.Payload) != `{"contact":false}` {
			t.Fatalf("admin got %s %s", m.Topic, m.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the granted publish did not reach a subscriber")
	}

	for _, c := range []struct {
		f    api.MQTTFilter
		want string
	}{
		{api.MQTTFilter{Filter: "hearth/#", Write: true}, "command topics"},
		{api.MQTTFilter{Filter: "zigbee2mqtt/#/x", Read: true}, "'#' must be a whole level and the last one"},
		{api.MQTTFilter{Filter: "a/b+", Read: true}, "'+' must be a whole level"},
		{api.MQTTFilter{Filter: "a/\x00", Read: true}, "NUL"},
		{api.MQTTFilter{Filter: strings.Repeat("a", 65536), Read: true}, "at most 65535"},
		{api.MQTTFilter{Filter: "a/b"}, "neither read nor write"},
	} {
		_, err := r.client.AddMQTTACL(ctx, "zb", c.f)
		if ae := apiErr(t, err); ae.Status != 400 || ae.Field != "filter" || !strings.Contains(ae.Message, c.want) || !strings.Contains(ae.Message, "zb") {
			t.Errorf("add %.30q: %+v, want a 400 on filter naming zb and saying %q", c.f.Filter, ae, c.want)
		}
	}
	if _, err := r.client.AddMQTTACL(ctx, "nobody", api.MQTTFilter{Filter: "a", Read: true}); apiErr(t, err).Status != 404 {
		t.Errorf("add to an unknown user: %v, want 404", err)
	}
	if _, err := r.client.RemoveMQTTACL(ctx, "zb", "devices/zb/#"); apiErr(t, err).Status != 404 {
		t.Errorf("removing a role filter: %v, want 404", err)
	}

	a, err = r.client.RemoveMQTTACL(ctx, "zb", "zigbee2mqtt/#")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Filters) != 0 {
		t.Fatalf("own filters after rm = %+v, want none", a.Filters)
	}
	if err := mqttPub(t, dc, topic, `{"contact":true}`); err == nil {
		t.Fatal("device still wrote zigbee2mqtt/# after --rm")
	}

	waitFor(t, func() bool { // audit rows come with the next group commit
		recs, err := r.client.Audit(ctx, api.AuditQuery{Entity: "mqtt"})
		if err != nil {
			return false
		}
		var add, rm bool
		for _, rec := range recs {
			var args map[string]any
			_ = json.Unmarshal(rec.Args, &args)
			add = add || rec.Action == "mqtt_acl_add" && args["filter"] == "zigbee2mqtt/#" && args["write"] == true && args["name"] == "zb"
			rm = rm || rec.Action == "mqtt_acl_rm" && args["filter"] == "zigbee2mqtt/#" && args["name"] == "zb"
		}
		return add && rm
	})

	// A removed user's live connection is closed.
	if err := r.client.RemoveMQTTUser(ctx, "zb"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the removed user's connection is still open")
	}
	if _, err := r.client.MQTTACL(ctx, "zb"); apiErr(t, err).Status != 404 {
		t.Errorf("acl of a removed user: %v, want 404", err)
	}
}

// scrape reads /metrics on the daemon's socket into series -> value.
func scrape(t *testing.T, r *running) map[string]float64 {
	t.Helper()
	resp, err := unixHTTP(r.d.Config().API.Socket).Get("http://hearthd/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetrics_Broker(t *testing.T) {
	r, addr := startWithBroker(t)
	ctx := context.Background()

	before := scrape(t, r)
	for _, s := range []string{"hearth_mqtt_clients_connected", "hearth_mqtt_messages_received_total", "hearth_mqtt_messages_sent_total",
		"hearth_mqtt_bytes_received_total", "hearth_mqtt_bytes_sent_total", "hearth_mqtt_retained_messages", "hearth_mqtt_subscriptions",
		"hearth_mqtt_inflight_messages", `hearth_mqtt_messages_dropped_total{reason="write_queue"}`, `hearth_mqtt_messages_dropped_total{reason="inflight_full"}`,
		"hearth_mqtt_auth_failures_total", "hearth_mqtt_flow_waits_total", "hearth_mqtt_flow_wait_timeouts_total"} {
		if _, ok := before[s]; !ok {
			t.Fatalf("metrics lack %s", s)
		}
	}

	u, err := r.client.AddMQTTUser(ctx, "esp", "device")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := mqttConnect(t, addr, "esp", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	c, msgs, err := mqttConnect(t, addr, "esp", u.Password)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/esp/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	const n = 3
	for i := range n {
		if err := mqttPub(t, c, "devices/esp/temp", strconv.Itoa(20+i)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-msgs:
		case <-time.After(5 * time.Second):
			t.Fatal("own message not delivered")
		}
	}

	// mochi counts a message sent after writing it, so the subscriber may
	// see the last one before the counter does.
	var after map[string]float64
	delta := func(s string) float64 { return after[s] - before[s] }
	waitFor(t, func() bool {
		after = scrape(t, r)
		return delta("hearth_mqtt_messages_sent_total") >= n
	})
	for _, c := range []struct {
		series string
		want   float64
	}{
		{"hearth_mqtt_auth_failures_total", 1},
		{"hearth_mqtt_clients_connected", 1},
		{"hearth_mqtt_subscriptions", 1},
		{`hearth_mqtt_messages_dropped_total{reason="write_queue"}`, 0},
	} {
		if got := delta(c.series); got != c.want {
			t.Errorf("%s went from %v to %v: +%v, want +%v", c.series, before[c.series], after[c.series], got, c.want)
		}
	}
	// The hub's own state publishes count as received too, and any change
	// of state meanwhile adds some: the device's three are the least.
	if got := delta("hearth_mqtt_messages_received_total"); got < n {
		t.Errorf("hearth_mqtt_messages_received_total +%v, want at least +%d", got, n)
	}
	for _, s := range []string{"hearth_mqtt_bytes_received_total", "hearth_mqtt_bytes_sent_total"} {
		if delta(s) <= 0 {
			t.Errorf("%s did not grow: %v -> %v", s, before[s], after[s])
		}
	}
}
