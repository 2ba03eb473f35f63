package broker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// awaitMsg returns the next message from ch or fails.
func awaitMsg(t *testing.T, ch <-chan Message) Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(waitFor):
		t.Fatalf("no message within %v", waitFor)
		return Message{}
	}
}

func TestBroker_Subscribe(t *testing.T) {
	b, err := New(Options{Addr: "127.0.0.1:0", Users: testUsers(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	early := make(chan Message, 16)
	if err := b.Subscribe("devices/esp1/#", func(m Message) { early <- m }); err != nil {
		t.Fatalf("Subscribe before Start: %v", err)
	}
	if err := b.Subscribe("devices/#/x", func(Message) {}); err == nil {
		t.Fatal(`Subscribe("devices/#/x") accepted a bad filter`)
	}
	if err := b.Subscribe("devices/+", nil); err == nil {
		t.Fatal("Subscribe with no handler accepted")
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}

	esp := mustDial(t, b, "esp1", "pw-esp1")
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	if _, err := esp.Publish(ctx, &paho.Publish{Topic: "devices/esp1/temp", QoS: 1, Retain: true, Payload: []byte("21.5")}); err != nil {
		t.Fatal(err)
	}
	m := awaitMsg(t, early)
	if m.Topic != "devices/esp1/temp" || string(m.Payload) != "21.5" || m.User != "esp1" || m.Retained {
		t.Fatalf("live message = %+v, want devices/esp1/temp 21.5 from esp1, not a replay", m)
	}

	// A subscription made while the broker runs starts with the retained
	// message, which names no user.
	late := make(chan Message, 16)
	if err := b.Subscribe("devices/esp1/temp", func(m Message) { late <- m }); err != nil {
		t.Fatal(err)
	}
	m = awaitMsg(t, late)
	if string(m.Payload) != "21.5" || !m.Retained || m.User != "" {
		t.Fatalf("replayed message = %+v, want the retained 21.5, no user", m)
	}
	if age := time.Since(m.Published); m.Published.IsZero() || age < 0 || age > time.Hour {
		t.Fatalf("replayed message published at %v, want when it was published (just now, to the second)", m.Published)
	}

	// A message the ACL refuses never reaches the subscription.
	_ = esp.pub(t, "devices/esp2/temp", "99") // refused: MQTT 5 answers with a reason code
	if err := esp.pub(t, "devices/esp1/temp", "22"); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan Message{early, late} {
		if m := awaitMsg(t, ch); string(m.Payload) != "22" {
			t.Fatalf("next message = %+v, want 22 (the refused 99 must not arrive)", m)
		}
	}
}

func TestBroker_SubscribeWill(t *testing.T) {
	b := startBroker(t, Options{Users: testUsers(t)})
	got := make(chan Message, 16)
	if err := b.Subscribe("devices/esp2/status", func(m Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", b.Addr(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	cp := &paho.Connect{ClientID: "esp2-will", CleanStart: true, KeepAlive: 30, Username: "esp2", UsernameFlag: true, Password: []byte("pw-esp2"), PasswordFlag: true,
		WillMessage: &paho.WillMessage{Topic: "devices/esp2/status", Payload: []byte("offline"), QoS: 1}}
	if _, err := c.Connect(ctx, cp); err != nil {
		t.Fatal(err)
	}
	// The will goes out when the connection drops without a DISCONNECT.
	conn.Close()
	m := awaitMsg(t, got)
	if m.Topic != "devices/esp2/status" || string(m.Payload) != "offline" || m.User != "esp2" {
		t.Fatalf("will = %+v, want on devices/esp2/status from esp2", m)
	}
}
