package broker

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/hearth-hub/hearth/hub"
	"github.com/hearth-hub/hearth/store"
)

// persistRig is a broker on a real store file that can be restarted: the
// broker and the store are closed and opened again on the same file.
type persistRig struct {
	t     *testing.T
	path  string
	users *MemUsers
	hub   *hub.Hub
	db    *store.DB
	b     *Broker
}

func persistUsers(t *testing.T) *MemUsers {
	u := testUsers(t)
	u.Put(User{Name: "admin", Hash: hash(t, "pw-admin"), Role: RoleAdmin})
	return u
}

func newPersistRig(t *testing.T, h *hub.Hub) *persistRig {
	r := &persistRig{t: t, path: filepath.Join(t.TempDir(), "hearth.db"), users: persistUsers(t), hub: h}
	r.start()
	return r
}

func (r *persistRig) start() {
	r.t.Helper()
	opts := store.DefaultOptions()
	opts.CompactEvery = 0
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(r.path, opts)
	if err != nil {
		r.t.Fatalf("open store: %v", err)
	}
	r.t.Cleanup(func() { _ = db.Close() })
	r.db = db
	r.b = startBroker(r.t, Options{Users: r.users, Hub: r.hub, Store: db})
}

// stop closes the broker (which flushes) and leaves the store open to look at.
func (r *persistRig) stop() {
	r.t.Helper()
	if err := r.b.Close(); err != nil {
		r.t.Fatal(err)
	}
}

func (r *persistRig) restart() {
	r.t.Helper()
	r.stop()
	if err := r.db.Close(); err != nil {
		r.t.Fatalf("close store: %v", err)
	}
	r.start()
}

// rows lists a kind's stored rows as "client|name".
func (r *persistRig) rows(kind string) []string {
	r.t.Helper()
	rs, err := r.db.LoadMQTT(context.Background(), kind)
	if err != nil {
		r.t.Fatal(err)
	}
	out := []string{}
	for _, row := range rs {
		out = append(out, row.Client+"|"+row.Name)
	}
	return out
}

func (r *persistRig) wantRows(kind string, want ...string) {
	r.t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := r.rows(kind); !slices.Equal(got, want) {
		r.t.Fatalf("stored %s rows=%q, want %q", kind, got, want)
	}
}

// adminPub publishes payload at QoS 1 to topic as the admin user.
func (r *persistRig) adminPub(topic, payload string) {
	r.t.Helper()
	pub := dialSession(r.t, r.b.Addr(), "admin-pub", "admin", "pw-admin", false)
	if err := pub.pub(r.t, topic, payload); err != nil {
		r.t.Fatal(err)
	}
}

// awaySession leaves behind a persistent MQTT 5 session subscribed to
// filter, its client gone.
func (r *persistRig) awaySession(id, user, pw, filter string) {
	r.t.Helper()
	c := dialSession(r.t, r.b.Addr(), id, user, pw, true)
	if err := c.sub(r.t, filter); err != nil {
		r.t.Fatal(err)
	}
	c.leave(r.t)
	waitOffline(r.t, r.b, id)
}

// dialSession connects a paho MQTT 5 client with a session that outlives
// the connection (clean start false, an hour's expiry) or not.
func dialSession(t *testing.T, addr, id, user, pw string, persistent bool) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{msgs: make(chan *paho.Publish, 256)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
	})
	cp := &paho.Connect{ClientID: id, CleanStart: !persistent, KeepAlive: 30,
		Username: user, UsernameFlag: true, Password: []byte(pw), PasswordFlag: true}
	if persistent {
		expiry := uint32(3600)
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &expiry}
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	if _, err := c.Connect(ctx, cp); err != nil {
		conn.Close()
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *client) leave(t *testing.T) {
	t.Helper()
	if err := c.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
}

func (c *client) retainedPub(t *testing.T, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: true, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
}

// waitOffline waits until the broker has seen id's connection end.
func waitOffline(t *testing.T, b *Broker, id string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		if cl, ok := b.Server().Clients.Get(id); ok && cl.Closed() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session of %s did not go offline", id)
		}
		time.Sleep(time.Millisecond)
	}
}

// subscribe311 subscribes a raw MQTT 3.1.1 client at QoS 1 and reads the SUBACK.
func (rc *rawConn) subscribe311(t *testing.T, filter string) {
	t.Helper()
	body := binary.BigEndian.AppendUint16(nil, 1)
	body = append(appendStr(body, filter), 1)
	if _, err := rc.c.Write(appendPacket(nil, 0x82, body)); err != nil {
		t.Fatal(err)
	}
	_ = rc.c.SetReadDeadline(time.Now().Add(waitFor))
	if h, _, err := rc.readPacket(); err != nil || h != 0x90 {
		t.Fatalf("SUBACK: header %#x, %v", h, err)
	}
}

// readPublish311 reads the next PUBLISH; it returns its header, topic,
// packet id and payload.
func (rc *rawConn) readPublish311(t *testing.T) (byte, string, uint16, string) {
	t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(waitFor))
	h, body, err := rc.readPacket()
	if err != nil {
		t.Fatalf("reading a PUBLISH: %v", err)
	}
	if h>>4 != 3 || len(body) < 2 {
		t.Fatalf("got packet %#x, want a PUBLISH", h)
	}
	n := int(binary.BigEndian.Uint16(body))
	topic, rest := string(body[2:2+n]), body[2+n:]
	var id uint16
	if h&0x06 != 0 {
		id, rest = binary.BigEndian.Uint16(rest), rest[2:]
	}
	return h, topic, id, string(rest)
}

func (rc *rawConn) puback(t *testing.T, id uint16) {
	t.Helper()
	if _, err := rc.c.Write(appendPacket(nil, 0x40, binary.BigEndian.AppendUint16(nil, id))); err != nil {
		t.Fatal(err)
	}
}

// (a) A device's retained message is there after a restart.
func TestPersist_RetainedAfterRestart(t *testing.T) {
	r := newPersistRig(t, nil)
	dev := dialSession(t, r.b.Addr(), "esp1", "esp1", "pw-esp1", false)
	dev.retainedPub(t, "devices/esp1/temp", "21.5")
	dev.retainedPub(t, "devices/esp1/hum", "40")
	dev.retainedPub(t, "devices/esp1/hum", "") // clears it
	r.restart()
	r.wantRows(store.MQTTRetained, "|devices/esp1/temp")
	sub := dialSession(t, r.b.Addr(), "admin-sub", "admin", "pw-admin", false)
	if err := sub.sub(t, "devices/esp1/#"); err != nil {
		t.Fatal(err)
	}
	if m := sub.await(t, "devices/esp1/temp"); !m.Retain || string(m.Payload) != "21.5" {
		t.Fatalf("after restart: retain %v payload %q, want the retained 21.5", m.Retain, m.Payload)
	}
	select {
	case m := <-sub.msgs:
		t.Fatalf("after restart: unexpected message on %s: %q (a cleared retained message came back?)", m.Topic, m.Payload)
	case <-time.After(100 * time.Millisecond):
	}
}

// (b) A QoS 1 message for a persistent session whose client is away is
// delivered after a restart, and the restored session keeps its
// permissions: a message published after the restart is queued too.
func TestPersist_OfflineSessionAfterRestart(t *testing.T) {
	t.Run("mqtt 5 clean start false", func(t *testing.T) {
		r := newPersistRig(t, nil)
		r.awaySession("ha-5", "ha", "pw-ha", "hearth/#")
		r.adminPub("hearth/lock/front/set", "before")
		r.restart()
		r.wantRows(store.MQTTClient, "ha-5|")
		r.wantRows(store.MQTTSub, "ha-5|hearth/#")
		r.adminPub("hearth/lock/front/set", "after")
		back := dialSession(t, r.b.Addr(), "ha-5", "ha", "pw-ha", true)
		// mochi resends in-flight messages sorted by their creation
		// second, so within a second the order is not kept.
		got := []string{string(back.await(t, "hearth/lock/front/set").Payload), string(back.await(t, "hearth/lock/front/set").Payload)}
		slices.Sort(got)
		if want := []string{"after", "before"}; !slices.Equal(got, want) {
			t.Fatalf("after restart: payloads %q, want %q", got, want)
		}
		// Its permissions are its user's, looked up again: still no write
		// outside the integration role.
		if err := back.pub(t, "devices/esp1/x", "no"); err == nil {
			t.Fatal("restored integration session may write devices/esp1/x")
		}
	})

	t.Run("mqtt 3.1.1 clean session false", func(t *testing.T) {
		r := newPersistRig(t, nil)
		sub := rawDialSession(t, r.b.Addr(), "ha-311", "ha", "pw-ha", false)
		sub.subscribe311(t, "hearth/#")
		sub.c.Close()
		waitOffline(t, r.b, "ha-311")
		r.adminPub("hearth/lock/front/set", "kept")
		r.restart()
		back := rawDialSession(t, r.b.Addr(), "ha-311", "ha", "pw-ha", false)
		h, topic, id, payload := back.readPublish311(t)
		if topic != "hearth/lock/front/set" || payload != "kept" || h&0x06 != 0x02 {
			t.Fatalf("after restart: header %#x topic %q payload %q, want the QoS 1 message kept", h, topic, payload)
		}
		back.puback(t, id)
	})

	t.Run("session of a removed user is dropped", func(t *testing.T) {
		r := newPersistRig(t, nil)
		r.awaySession("esp2-s", "esp2", "pw-esp2", "devices/esp2/#")
		r.users.Delete("esp2")
		r.restart()
		if _, ok := r.b.Server().Clients.Get("esp2-s"); ok {
			t.Fatal("the session of removed user esp2 was restored")
		}
		r.stop()
		r.wantRows(store.MQTTClient)
		r.wantRows(store.MQTTSub)
	})
}

// (c) QoS 1 messages in flight, unacknowledged when the broker stops, are
// sent again (DUP) after the restart; once acknowledged they are gone.
func TestPersist_InflightRedelivered(t *testing.T) {
	r := newPersistRig(t, nil)
	sub := rawDialSession(t, r.b.Addr(), "slow-sub", "admin", "pw-admin", false)
	sub.subscribe311(t, "devices/esp1/#")
	dev := dialSession(t, r.b.Addr(), "esp1", "esp1", "pw-esp1", false)
	for _, p := range []string{"one", "two"} {
		if err := dev.pub(t, "devices/esp1/door", p); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"one", "two"} {
		h, _, _, payload := sub.readPublish311(t)
		if payload != want || h&0x08 != 0 {
			t.Fatalf("first delivery: header %#x payload %q, want %q without DUP", h, payload, want)
		}
	}
	// No PUBACK: both are in flight when the broker stops.
	r.restart()
	r.wantRows(store.MQTTInflight, "slow-sub|1", "slow-sub|2")
	back := rawDialSession(t, r.b.Addr(), "slow-sub", "admin", "pw-admin", false)
	var got []string
	for range 2 {
		h, topic, id, payload := back.readPublish311(t)
		if h&0x08 == 0 || topic != "devices/esp1/door" {
			t.Fatalf("redelivery: header %#x topic %q, want DUP set on devices/esp1/door", h, topic)
		}
		got = append(got, payload)
		back.puback(t, id)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("redelivered %q, want one and two", got)
	}
	// A PINGREQ answered means the PUBACKs before it were processed.
	if _, err := back.c.Write([]byte{0xC0, 0}); err != nil {
		t.Fatal(err)
	}
	if h, _, err := back.readPacket(); err != nil || h != 0xD0 {
		t.Fatalf("PINGRESP: %#x %v", h, err)
	}
	r.stop()
	r.wantRows(store.MQTTInflight)
	r.wantRows(store.MQTTSub, "slow-sub|devices/esp1/#")
}

// (d) Unsubscribing, and a clean start over a persistent session, remove
// what was stored for it.
func TestPersist_Removed(t *testing.T) {
	r := newPersistRig(t, nil)
	c := dialSession(t, r.b.Addr(), "ha-d", "ha", "pw-ha", true)
	for _, f := range []string{"hearth/#", "homeassistant/#"} {
		if err := c.sub(t, f); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	if _, err := c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"homeassistant/#"}}); err != nil {
		t.Fatal(err)
	}
	c.leave(t)
	waitOffline(t, r.b, "ha-d")
	r.adminPub("hearth/lock/front/set", "queued")
	r.restart()
	r.wantRows(store.MQTTClient, "ha-d|")
	r.wantRows(store.MQTTSub, "ha-d|hearth/#")
	r.wantRows(store.MQTTInflight, "ha-d|1")

	clean := dialSession(t, r.b.Addr(), "ha-d", "ha", "pw-ha", false)
	select {
	case m := <-clean.msgs:
		t.Fatalf("clean start received %q on %s from the old session", m.Payload, m.Topic)
	case <-time.After(100 * time.Millisecond):
	}
	clean.leave(t)
	r.stop()
	r.wantRows(store.MQTTClient)
	r.wantRows(store.MQTTSub)
	r.wantRows(store.MQTTInflight)
}

// (e) What the hub publishes (retained states, discovery configs) is not
// written; a device's retained message is.
func TestPersist_BridgeNotStored(t *testing.T) {
	h, _ := newHub(t)
	r := newPersistRig(t, h)
	dev := dialSession(t, r.b.Addr(), "esp1", "esp1", "pw-esp1", false)
	dev.retainedPub(t, "devices/esp1/temp", "21.5")
	for _, v := range []float64{21, 22, 23} {
		if _, err := h.Update("number.setpoint", "test", "", map[string]hub.Value{"value": hub.Number(v, "°C")}); err != nil {
			t.Fatal(err)
		}
	}
	// Watched in the broker, not through a subscriber: mochi's subscribe
	// reads the topic tree without the lock the bridge's retains take.
	deadline := time.Now().Add(waitFor)
	for {
		if pk, ok := r.b.Server().Topics.Retained.Get("hearth/number/setpoint/state"); ok && string(pk.Payload) == `{"value":23}` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not retain the last setpoint within %v", waitFor)
		}
		time.Sleep(time.Millisecond)
	}
	r.stop()
	r.wantRows(store.MQTTRetained, "|devices/esp1/temp")
	if got := r.b.Server().Topics.Retained.GetAll(); len(got) < 2 {
		t.Fatalf("the broker held %d retained messages, want the bridge's too (the test checks nothing)", len(got))
	}
}

// The Debian clients against the restarted broker: mosquitto_pub -r, and
// a persistent mosquitto_sub -c that was away during the restart.
func TestPersist_Mosquitto(t *testing.T) {
	r := newPersistRig(t, nil)
	conn := func() []string {
		host, port, err := net.SplitHostPort(r.b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		return []string{"-h", host, "-p", port}
	}
	run := func(name string, args ...string) string {
		t.Helper()
		code, stdout, stderr := mosquitto(t, name, append(conn(), args...)...)
		if code != 0 {
			t.Fatalf("%s %s: exit %d: %s", name, strings.Join(args, " "), code, stderr)
		}
		return stdout
	}
	run("mosquitto_pub", "-u", "esp1", "-P", "pw-esp1", "-q", "1", "-r", "-t", "devices/esp1/temp", "-m", "21.5")
	run("mosquitto_sub", "-u", "admin", "-P", "pw-admin", "-i", "mosq-persist", "-c", "-q", "1", "-t", "devices/esp1/door", "-E")
	waitOffline(t, r.b, "mosq-persist")
	run("mosquitto_pub", "-u", "esp1", "-P", "pw-esp1", "-q", "1", "-t", "devices/esp1/door", "-m", "open")
	r.restart()
	if got, want := run("mosquitto_sub", "-u", "admin", "-P", "pw-admin", "-t", "devices/esp1/temp", "-v", "-C", "1", "-W", "20"), "devices/esp1/temp 21.5\n"; got != want {
		t.Fatalf("mosquitto_sub after restart printed %q, want %q (the retained message)", got, want)
	}
	if got, want := run("mosquitto_sub", "-u", "admin", "-P", "pw-admin", "-i", "mosq-persist", "-c", "-q", "1", "-t", "devices/esp1/door", "-v", "-C", "1", "-W", "20"), "devices/esp1/door open\n"; got != want {
		t.Fatalf("persistent mosquitto_sub after restart printed %q, want %q (the queued message)", got, want)
	}
}

// A stored row that cannot be decoded, or whose session is gone, does not
// stop the broker: it is skipped and deleted.
func TestPersist_BadRowsDropped(t *testing.T) {
	r := newPersistRig(t, nil)
	dev := dialSession(t, r.b.Addr(), "esp1", "esp1", "pw-esp1", false)
	dev.retainedPub(t, "devices/esp1/temp", "21.5")
	r.stop()
	if err := r.db.ApplyMQTT(context.Background(), []store.MQTTOp{
		{Kind: store.MQTTRetained, Name: "devices/esp1/bad", Value: []byte("not json")},
		{Kind: store.MQTTRetained, Name: "devices/esp1/other", Value: []byte(`{"topic_name":"devices/esp1/elsewhere","payload":"MQ=="}`)},
		{Kind: store.MQTTClient, Client: "broken", Value: []byte("{")},
		{Kind: store.MQTTSub, Client: "ghost", Name: "devices/#", Value: []byte(`{"client":"ghost","filter":"devices/#","qos":1}`)},
		{Kind: store.MQTTInflight, Client: "ghost", Name: "3", Value: []byte(`{"client":"ghost"}`)},
	}); err != nil {
		t.Fatal(err)
	}
	r.restart()
	if _, ok := r.b.Server().Topics.Retained.Get("devices/esp1/temp"); !ok {
		t.Fatal("the good retained message was not restored beside the bad rows")
	}
	for _, id := range []string{"broken", "ghost"} {
		if _, ok := r.b.Server().Clients.Get(id); ok {
			t.Fatalf("session %s restored from a bad or orphaned row", id)
		}
	}
	r.stop()
	r.wantRows(store.MQTTRetained, "|devices/esp1/temp")
	r.wantRows(store.MQTTClient)
	r.wantRows(store.MQTTSub)
	r.wantRows(store.MQTTInflight)
}
