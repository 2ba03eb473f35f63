package broker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// Packet limits and malformed input, from raw clients.

// appendLength appends n as MQTT's variable byte integer.
func appendLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		if n /= 128; n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// rawConnect logs in with a raw MQTT 3.1.1 (version 4) or 5 client and
// returns it with the CONNACK's body.
func rawConnect(t *testing.T, addr, id, user, pw string, version byte) (*rawConn, []byte) {
	t.Helper()
	rc := rawOpen(t, addr)
	c := rc.c
	if _, err := c.Write(connectPacket(id, user, pw, version)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	h, ack, err := rc.readPacket()
	if err != nil || h != 0x20 || len(ack) < 2 || ack[1] != 0 {
		t.Fatalf("connect %s: %x %x %v", id, h, ack, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return rc, ack
}

// connectPacket is a clean-session CONNECT with a user and password,
// MQTT 3.1.1 (version 4) or 5.
func connectPacket(id, user, pw string, version byte) []byte {
	body := appendStr(nil, "MQTT")
	body = append(body, version, 0xC2, 0, 60) // user, password, clean; keepalive 60 s
	if version == 5 {
		body = append(body, 0) // no properties
	}
	body = appendStr(appendStr(appendStr(body, id), user), pw)
	return appendPacket(nil, 0x10, body)
}

// rawOpen is a TCP connection to addr that has sent nothing yet.
func rawOpen(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, r: bufio.NewReader(c)}
}

// rawPublish is a QoS 0 PUBLISH packet; MQTT 5 adds an empty property list.
func rawPublish(version byte, topic string, payload []byte) []byte {
	body := appendStr(nil, topic)
	if version == 5 {
		body = append(body, 0)
	}
	return appendPacket(nil, 0x30, append(body, payload...))
}

// packet is one packet a raw client read.
type packet struct {
	header byte
	body   []byte
}

// closedAfter reads from rc until the broker closes the connection and
// returns what it sent before; a connection still open after waitFor
// fails the test.
func closedAfter(t *testing.T, rc *rawConn) []packet {
	t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(waitFor))
	var got []packet
	for {
		h, body, err := rc.readPacket()
		if err == nil {
			got = append(got, packet{h, body})
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %v (read %x)", waitFor, got)
		}
		return got
	}
}

// nextMsg is the next message sub receives, whatever its topic.
func nextMsg(t *testing.T, sub *client) *paho.Publish {
	t.Helper()
	select {
	case m := <-sub.msgs:
		return m
	case <-time.After(waitFor):
		t.Fatalf("no message within %v", waitFor)
		return nil
	}
}

// stillServes checks that the broker serves a new client: esp2 publishes
// devices/esp2/<tag>, and it must be the next message sub (on devices/#)
// gets, so nothing a refused client sent before got through.
func stillServes(t *testing.T, b *Broker, sub *client, tag string) {
	t.Helper()
	pub := mustDial(t, b, "esp2", "pw-esp2")
	if err := pub.pub(t, "devices/esp2/"+tag, tag); err != nil {
		t.Fatalf("publish after the refused client: %v", err)
	}
	if m := nextMsg(t, sub); m.Topic != "devices/esp2/"+tag || string(m.Payload) != tag {
		t.Fatalf("subscriber got %s %.40q, want devices/esp2/%s", m.Topic, m.Payload, tag)
	}
}

// watcher is an admin client subscribed to devices/#.
func watcher(t *testing.T, b *Broker) *client {
	t.Helper()
	sub := mustDial(t, b, "admin", "pw-admin")
	if err := sub.sub(t, "devices/#"); err != nil {
		t.Fatal(err)
	}
	return sub
}

func TestMaxPacketSize(t *testing.T) {
	const limit = 4096
	b := startBroker(t, Options{Users: listenerUsers(t), MaxPacketSize: limit})
	sub := watcher(t, b)
	// A packet just under the limit passes.
	fits := bytes.Repeat([]byte("f"), limit-200)
	if err := mustDial(t, b, "esp1", "pw-esp1").pub(t, "devices/esp1/fits", string(fits)); err != nil {
		t.Fatal(err)
	}
	if m := nextMsg(t, sub); m.Topic != "devices/esp1/fits" || len(m.Payload) != len(fits) {
		t.Fatalf("got %s with %d bytes, want devices/esp1/fits with %d", m.Topic, len(m.Payload), len(fits))
	}
	for _, version := range []byte{4, 5} {
		t.Run("MQTT "+strconv.Itoa(int(version)), func(t *testing.T) {
			rc, ack := rawConnect(t, b.Addr(), "big"+strconv.Itoa(int(version)), "esp1", "pw-esp1", version)
			// MQTT 5 clients are told the limit: property 0x27 in the CONNACK.
			announce := binary.BigEndian.AppendUint32([]byte{0x27}, limit)
			if version == 5 && !bytes.Contains(ack[2:], announce) {
				t.Errorf("CONNACK %x does not announce Maximum Packet Size %d", ack, limit)
			}
			if _, err := rc.c.Write(rawPublish(version, "devices/esp1/big", make([]byte, limit+1000))); err != nil {
				t.Fatal(err)
			}
			for _, p := range closedAfter(t, rc) {
				if p.header != 0xE0 || version != 5 || len(p.body) == 0 || p.body[0] != 0x95 {
					t.Errorf("broker sent %x %x, want nothing or DISCONNECT 0x95 (packet too large)", p.header, p.body)
				}
			}
			stillServes(t, b, sub, "after-big-"+strconv.Itoa(int(version)))
		})
	}
}

// A length field claiming 200 MB must not make the broker allocate it:
// mochi allocates a packet's buffer from the header before reading it,
// so the packet size limit is what guards it.
func TestMaxPacketSize_LyingLength(t *testing.T) {
	b := startBroker(t, Options{Users: listenerUsers(t)}) // DefaultMaxPacketSize
	sub := watcher(t, b)
	const claim = 200 << 20
	tests := []struct {
		name   string
		login  bool
		header byte
	}{
		{"CONNECT before login", false, 0x10},
		{"PUBLISH after login", true, 0x30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var rc *rawConn
			if tt.login {
				rc, _ = rawConnect(t, b.Addr(), "liar", "esp1", "pw-esp1", 4)
			} else {
				rc = rawOpen(t, b.Addr())
			}
			pkt := appendLength([]byte{tt.header}, claim)
			if _, err := rc.c.Write(append(pkt, "only a few bytes"...)); err != nil {
				t.Fatal(err)
			}
			if got := closedAfter(t, rc); len(got) != 0 {
				t.Errorf("broker sent %x, want the connection closed", got)
			}
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew >= claim/2 {
				t.Fatalf("%d MB allocated while refusing a %d MB claim", grew>>20, claim>>20)
			}
			stillServes(t, b, sub, strings.ReplaceAll(tt.name, " ", "-"))
		})
	}
}

// Malformed packets close the connection and harm no one else. Covered
// elsewhere: anonymous and bad logins (TestAuth), ACL refusals (TestACL).
func TestMalformed(t *testing.T) {
	b := startBroker(t, Options{Users: listenerUsers(t)})
	sub := watcher(t, b)
	connect := func(name string, version byte) []byte {
		body := appendStr(nil, name)
		body = append(body, version, 0xC2, 0, 60)
		body = appendStr(appendStr(appendStr(body, "malformed"), "admin"), "pw-admin")
		return appendPacket(nil, 0x10, body)
	}
	tests := []struct {
		name  string
		login bool   // send after logging in as admin (MQTT 3.1.1)
		send  []byte // then the client half-closes, unless open
		open  bool   // the client keeps its side open
	}{
		{"length of five bytes", true, []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0}, true},
		{"length of five continuation bytes", true, []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0}, true},
		{"protocol name MQTX", false, connect("MQTX", 4), true},
		{"protocol version 9", false, connect("MQTT", 9), true},
		{"invalid UTF-8 topic", true, rawPublish(4, "devices/\xff\xfe", []byte("x")), true},
		{"wildcard + in PUBLISH topic", true, rawPublish(4, "devices/+/x", []byte("x")), true},
		{"wildcard # in PUBLISH topic", true, rawPublish(4, "devices/#", []byte("x")), true},
		{"packet type 0", true, []byte{0x00, 0x00}, true},
		{"packet type 15 in 3.1.1", true, []byte{0xF0, 0x02, 0x00, 0x00}, true},
		{"packet type 15 without body", true, []byte{0xF0, 0x00}, true},
		{"a CONNACK from the client", true, []byte{0x20, 0x02, 0x00, 0x00}, true},
		{"second CONNECT", true, connect("MQTT", 4), true},
		{"PUBLISH QoS 3", true, []byte{0x36, 0x03, 0x00, 0x01, 'x'}, true},
		{"truncated CONNECT", false, connect("MQTT", 4)[:12], false},
		{"truncated PUBLISH", true, rawPublish(4, "devices/cut", []byte("payload"))[:9], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rc *rawConn
			if tt.login {
				rc, _ = rawConnect(t, b.Addr(), "malformed", "admin", "pw-admin", 4)
			} else {
				rc = rawOpen(t, b.Addr())
			}
			if _, err := rc.c.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if !tt.open {
				if err := rc.c.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range closedAfter(t, rc) {
				if p.header == 0x20 && len(p.body) == 2 && p.body[1] != 0 {
					continue // a CONNACK refusing the CONNECT is fine
				}
				t.Errorf("broker sent %x %x, want the connection closed", p.header, p.body)
			}
			stillServes(t, b, sub, strings.NewReplacer(" ", "-", "#", "hash", "+", "plus").Replace(tt.name))
		})
	}
}

// A client that sends nothing, or stops inside its CONNECT, is
// disconnected after ConnectTimeout instead of holding its connection.
func TestConnectTimeout(t *testing.T) {
	b := startBroker(t, Options{Users: listenerUsers(t), ConnectTimeout: 300 * time.Millisecond})
	sub := watcher(t, b)
	body := appendStr(nil, "MQTT")
	half := appendPacket(nil, 0x10, append(body, 4, 0xC2, 0, 60, 0, 4, 's', 'l', 'o', 'w'))[:10]
	for _, send := range [][]byte{nil, half} {
		name := "silent"
		if send != nil {
			name = "half a CONNECT"
		}
		t.Run(name, func(t *testing.T) {
			rc := rawOpen(t, b.Addr())
			if _, err := rc.c.Write(send); err != nil {
				t.Fatal(err)
			}
			if got := closedAfter(t, rc); len(got) != 0 {
				t.Errorf("broker sent %x, want the connection closed", got)
			}
			stillServes(t, b, sub, strings.ReplaceAll(name, " ", "-"))
		})
	}
	// A client that logs in is not cut off by the timeout: its keepalive
	// applies from then on.
	c := mustDial(t, b, "esp1", "pw-esp1")
	time.Sleep(time.Second)
	roundTrip(t, sub, c, "esp1", "logged-in")
}
