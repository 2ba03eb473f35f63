package broker

import (
	"bufio"
	"encoding/binary"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"strings"
	"testing"
	"time"
)

// TestPersistentSession_OfflineDelivery: a QoS 1 message for a persistent
// session whose client is away is kept and delivered when it comes back
// (its permissions stay with the session while it is away).
func TestPersistentSession_OfflineDelivery(t *testing.T) {
	b := startBroker(t, Options{Users: testUsers(t)})
	const topic = "hearth/number/offline/set"
	sub := rawDialSession(t, b.Addr(), "offline-sub", "ha", "pw-ha", false)
	body := binary.BigEndian.AppendUint16(nil, 1)
	body = append(appendStr(body, topic), 1)
	if _, err := sub.c.Write(appendPacket(nil, 0x82, body)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sub.readPacket(); err != nil { // SUBACK
		t.Fatal(err)
	}
	if _, err := sub.c.Write([]byte{0xE0, 0}); err != nil { // DISCONNECT
		t.Fatal(err)
	}
	sub.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cl, ok := b.Server().Clients.Get("offline-sub")
		if ok && cl.Closed() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscriber's session did not go offline")
		}
		time.Sleep(time.Millisecond)
	}

	pub := rawDial(t, b, "offline-pub", "ha", "pw-ha")
	pb := binary.BigEndian.AppendUint16(appendStr(nil, topic), 1)
	if _, err := pub.c.Write(appendPacket(nil, 0x32, append(pb, []byte("kept")...))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pub.readPacket(); err != nil { // PUBACK
		t.Fatal(err)
	}

	back := rawDialSession(t, b.Addr(), "offline-sub", "ha", "pw-ha", false)
	if err := back.c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	h, got, err := back.readPacket()
	if err != nil {
		t.Fatalf("reconnected: %v (the message was not kept)", err)
	}
	if h>>4 != 3 || !strings.Contains(string(got), topic) || !strings.Contains(string(got), "kept") {
		t.Fatalf("reconnected: first packet %#x %q, want the kept PUBLISH", h, got)
	}
}

// TestPersistentSession_NoPermsLeak: a persistent session's client that
// reconnects again and again leaves one set of permissions, not one per
// connection.
func TestPersistentSession_NoPermsLeak(t *testing.T) {
	b := startBroker(t, Options{Users: testUsers(t)})
	entries := func() int {
		n := 0
		b.sess.m.Range(func(k, _ any) bool {
			if k.(*mqtt.Client).ID == "again" {
				n++
			}
			return true
		})
		return n
	}
	for i := range 5 {
		c := rawDialSession(t, b.Addr(), "again", "esp1", "pw-esp1", false)
		if _, err := c.c.Write([]byte{0xE0, 0}); err != nil { // DISCONNECT
			t.Fatal(err)
		}
		c.c.Close()
		// The hooks run after CONNACK: wait for them to settle at one.
		deadline := time.Now().Add(5 * time.Second)
		for n := entries(); n != 1; n = entries() {
			if time.Now().After(deadline) {
				t.Fatalf("after connection %d: %d permission entries for the session, want 1", i+1, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestPersistentSession_OtherUserRefused: a user cannot take over another
// user's session, and with it the messages queued for it, by using its
// client id; the owner still can.
func TestPersistentSession_OtherUserRefused(t *testing.T) {
	b := startBroker(t, Options{Users: testUsers(t)})
	const id = "esp1-session"
	owner := rawDialSession(t, b.Addr(), id, "esp1", "pw-esp1", false)
	if _, err := owner.c.Write([]byte{0xE0, 0}); err != nil { // DISCONNECT: the session stays
		t.Fatal(err)
	}
	owner.c.Close()

	c, err := net.DialTimeout("tcp", b.Addr(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := append(appendStr(nil, "MQTT"), 4, 0xC0) // 3.1.1, user, password, keep the session
	body = binary.BigEndian.AppendUint16(body, 60)
	body = appendStr(appendStr(appendStr(body, id), "esp2"), "pw-esp2")
	if _, err := c.Write(appendPacket(nil, 0x10, body)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	rc := &rawConn{c: c, r: bufio.NewReader(c)}
	h, ack, err := rc.readPacket()
	if err != nil || h != 0x20 || len(ack) != 2 || ack[1] == 0 {
		t.Fatalf("esp2 with esp1's client id: CONNACK %#x %x %v, want a refusal", h, ack, err)
	}
	if cl, ok := b.Server().Clients.Get(id); !ok || string(cl.Properties.Username) != "esp1" {
		t.Fatal("esp1's session was taken over or lost")
	}
	// The owner comes back to its session.
	rawDialSession(t, b.Addr(), id, "esp1", "pw-esp1", false)
}
