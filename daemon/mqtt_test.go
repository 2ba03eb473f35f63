package daemon

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hearth-hub/hearth/daemon/api"
)

// mqttConnect connects a paho client; it returns the connect error.
func mqttConnect(t *testing.T, addr, user, pw string) (*paho.Client, chan *paho.Publish, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, msgs, _, err := mqttConnectOver(t, conn, user, pw)
	return c, msgs, err
}

// mqttConnectOver is mqttConnect over conn (TCP or TLS); it also returns
// the CONNACK.
func mqttConnectOver(t *testing.T, conn net.Conn, user, pw string) (*paho.Client, chan *paho.Publish, *paho.Connack, error) {
	t.Helper()
	msgs := make(chan *paho.Publish, 256)
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { msgs <- pr.Packet; return true, nil },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cp := &paho.Connect{ClientID: "t-" + user, CleanStart: true, KeepAlive: 30}
	if _, ok := conn.(*net.TCPConn); !ok {
		// paho.golang v0.23.0's first PINGREQ can land inside a packet
		// written over TLS (see connectOver in broker/broker_test.go).
		cp.KeepAlive = 0
	}
	if user != "" {
		cp.Username, cp.UsernameFlag, cp.Password, cp.PasswordFlag = user, true, []byte(pw), true
	}
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		return nil, nil, ack, err
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}); conn.Close() })
	return c, msgs, ack, nil
}

func TestMQTT_UsersAndState(t *testing.T) {
	cfg := testConfig(t)
	cfg.MQTT.Listen = "127.0.0.1:0"
	r := MustStart(t, cfg)
	addr := r.d.broker.Addr()
	ctx := context.Background()

	if _, _, err := mqttConnect(t, addr, "", ""); err == nil {
		t.Fatal("anonymous client accepted")
	}
	u, err := r.client.AddMQTTUser(ctx, "homeassistant", "integration")
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Password) < 20 {
		t.Fatalf("password %q: too short", u.Password)
	}
	if _, err := r.client.AddMQTTUser(ctx, "homeassistant", "device"); err == nil {
		t.Fatal("a second user of the same name was added")
	}
	if _, err := r.client.AddMQTTUser(ctx, "x", "root"); apiErr(t, err).Field != "role" {
		t.Fatalf("unknown role: %v", err)
	}
	if _, _, err := mqttConnect(t, addr, "homeassistant", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	c, msgs, err := mqttConnect(t, addr, "homeassistant", u.Password)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "hearth/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for got := false; !got; {
		select {
		case m := <-msgs:
			got = m.Topic == "hearth/number/away_temperature/state" && m.Retain && strings.Contains(string(m.Payload), "16")
		case <-deadline:
			t.Fatal("no retained state for number.away_temperature")
		}
	}
	// Home Assistant discovery: a retained config per entity.
	if _, err := c.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "homeassistant/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	deadline = time.After(5 * time.Second)
	for got := false; !got; {
		select {
		case m := <-msgs:
			got = m.Topic == "homeassistant/number/hearth/number_away_temperature/config" && m.Retain && strings.Contains(string(m.Payload), `"command_topic":"hearth/number/away_temperature/set"`)
		case <-deadline:
			t.Fatal("no discovery config for number.away_temperature")
		}
	}
	// A command over MQTT changes the entity and is audited as mqtt:homeassistant.
	if _, err := c.Publish(sctx, &paho.Publish{Topic: "hearth/number/away_temperature/set", QoS: 1, Payload: []byte(`{"value": 18}`)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return text(t, r, "number.away_temperature", "value") == "18 °C" })
	waitFor(t, func() bool { // the audit row comes with the next group commit
		recs, err := r.client.Audit(ctx, api.AuditQuery{Principal: "mqtt:homeassistant"})
		return err == nil && len(recs) == 1 && recs[0].Outcome == "ok" && recs[0].Source == "mqtt"
	})

	users, err := r.client.MQTTUsers(ctx)
	if err != nil || len(users) != 1 || users[0].Name != "homeassistant" || users[0].Password != "" {
		t.Fatalf("users=%+v %v (a listing never shows a password)", users, err)
	}
	if err := r.client.RemoveMQTTUser(ctx, "homeassistant"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := mqttConnect(t, addr, "homeassistant", u.Password); err == nil {
		t.Fatal("a removed user could connect")
	}
}
