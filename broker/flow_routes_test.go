package broker

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestFlowRoutes_Cache(t *testing.T) {
	var r flowRoutes
	lookups := 0
	lookup := func(topic string) *mqtt.Subscribers {
		lookups++
		return &mqtt.Subscribers{Subscriptions: map[string]packets.Subscription{"c" + topic: {}}}
	}
	a := r.get("a", lookup)
	if r.get("a", lookup) != a || lookups != 1 {
		t.Fatalf("second get looked up again: %d lookups", lookups)
	}
	r.changed()
	if r.get("a", lookup) == a || lookups != 2 {
		t.Fatalf("get after a change used the old entry: %d lookups", lookups)
	}
	// A lookup from before a change is used once, not cached.
	g := r.gen.Load()
	r.changed()
	_ = r.get("b", lookup) // caches at the new generation
	r.mu.Lock()
	if r.at != g+1 {
		t.Fatalf("cache generation %d, want %d", r.at, g+1)
	}
	r.mu.Unlock()
	for i := range flowRoutesMax + 10 {
		r.get(fmt.Sprint("t", i), lookup)
	}
	r.mu.RLock()
	n := len(r.m)
	r.mu.RUnlock()
	if n > flowRoutesMax {
		t.Fatalf("%d cached topics, want at most %d", n, flowRoutesMax)
	}
}

// TestFlowRoutes_Broker: a subscription made after a topic's subscribers
// were cached is seen by flow control on the next publish, and one that
// is gone is dropped.
func TestFlowRoutes_Broker(t *testing.T) {
	b := startBroker(t, Options{Users: testUsers(t)})
	const topic = "devices/esp1/state"
	routes := func() *mqtt.Subscribers { return b.flow.routes.get(topic, b.srv.Topics.Subscribers) }
	first := mustDial(t, b, "esp1", "pw-esp1")
	if err := first.sub(t, "devices/esp1/#"); err != nil {
		t.Fatal(err)
	}
	second := rawDial(t, b, "late-sub", "esp1", "pw-esp1")
	// Its PINGRESP means its session hooks have run (they run before its
	// read loop), so nothing but the subscription below changes routes.
	if _, err := second.c.Write([]byte{0xC0, 0}); err != nil {
		t.Fatal(err)
	}
	_ = second.c.SetReadDeadline(time.Now().Add(waitFor))
	if h, _, err := second.readPacket(); err != nil || h != 0xD0 {
		t.Fatalf("PINGRESP: %#x %v", h, err)
	}
	if n := len(routes().Subscriptions); n != 1 {
		t.Fatalf("%d subscribers cached, want 1", n)
	}
	body := append(appendStr([]byte{0, 1}, "devices/esp1/+"), 1)
	if _, err := second.c.Write(appendPacket(nil, 0x82, body)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := second.readPacket(); err != nil { // SUBACK, after OnSubscribed
		t.Fatal(err)
	}
	if _, ok := routes().Subscriptions["late-sub"]; !ok {
		t.Fatalf("the late subscriber is not among %v", routes().Subscriptions)
	}
	if _, err := second.c.Write([]byte{0xE0, 0}); err != nil { // DISCONNECT, clean session
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for _, ok := routes().Subscriptions["late-sub"]; ok; _, ok = routes().Subscriptions["late-sub"] {
		if time.Now().After(deadline) {
			t.Fatal("a subscriber that left is still cached")
		}
		time.Sleep(time.Millisecond)
	}
}
