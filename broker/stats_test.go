package broker

import (
	"testing"
	"time"
)

func TestBroker_SysTopics(t *testing.T) {
	users := testUsers(t)
	users.Put(User{Name: "root", Hash: hash(t, "pw-root"), Role: RoleAdmin})
	b := startBroker(t, Options{Users: users, SysInterval: time.Second})
	dev := mustDial(t, b, "esp1", "pw-esp1")
	integ := mustDial(t, b, "ha", "pw-ha")
	root := mustDial(t, b, "root", "pw-root")

	const topic = "$SYS/broker/clients/connected"
	if err := dev.sub(t, topic); err == nil {
		t.Error("device subscribed to " + topic)
	}
	if err := dev.sub(t, "$SYS/#"); err == nil {
		t.Error("device subscribed to $SYS/#")
	}
	for _, c := range []*client{integ, root} {
		if err := c.sub(t, topic); err != nil {
			t.Fatalf("subscribe %s: %v", topic, err)
		}
	}
	// Three clients are connected; a tick from before the last login may
	// say fewer, the next one (a second later) says three.
	deadline := time.Now().Add(waitFor)
	for {
		m := integ.await(t, topic)
		if string(m.Payload) == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q, want 3", topic, m.Payload)
		}
	}
	root.await(t, topic)
	select {
	case m := <-dev.msgs:
		t.Fatalf("device received %s", m.Topic)
	default:
	}
}

func TestSysSeconds(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{
		{0, 10},
		{-time.Second, 10},
		{time.Millisecond, 1},
		{time.Second, 1},
		{90 * time.Second, 90},
	} {
		if got := sysSeconds(c.d); got != c.want {
			t.Errorf("sysSeconds(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

func TestBroker_Stats(t *testing.T) {
	b := startBroker(t, Options{Users: testUsers(t)})
	if _, err := dial(t, b, "esp1", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	dev := mustDial(t, b, "esp1", "pw-esp1")
	if err := dev.sub(t, "devices/esp1/#"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := dev.pub(t, "devices/esp1/temp", "21.5"); err != nil {
			t.Fatal(err)
		}
		dev.await(t, "devices/esp1/temp")
	}
	// mochi counts a message sent after writing it, so the subscriber may
	// see the last one before the counter does.
	deadline := time.Now().Add(waitFor)
	for b.Stats().MessagesSent < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s := b.Stats()
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"ClientsConnected", s.ClientsConnected, 1},
		{"MessagesReceived", s.MessagesReceived, 3},
		{"MessagesSent", s.MessagesSent, 3},
		{"Subscriptions", s.Subscriptions, 1},
		{"AuthFailures", int64(s.AuthFailures), 1},
		{"DroppedWriteQueue", s.DroppedWriteQueue, 0},
	} {
		if c.got != c.want {
			t.Errorf("Stats().%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if s.BytesReceived <= 0 || s.BytesSent <= 0 {
		t.Errorf("Stats() bytes received %d, sent %d: want both > 0", s.BytesReceived, s.BytesSent)
	}
}
