package broker

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/crypto/bcrypt"

	"github.com/hearth-hub/hearth/hub"
)

const waitFor = 5 * time.Second

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type auditLog struct {
	mu   sync.Mutex
	recs []hub.AuditRecord
}

func (a *auditLog) Audit(_ context.Context, rec *hub.AuditRecord, _ bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec.ID = int64(len(a.recs) + 1)
	a.recs = append(a.recs, *rec)
	return nil
}

func (a *auditLog) all() []hub.AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]hub.AuditRecord(nil), a.recs...)
}

func hash(t testing.TB, pw string) []byte {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func testUsers(t testing.TB) *MemUsers {
	u := new(MemUsers)
	u.Put(User{Name: "esp1", Hash: hash(t, "pw-esp1")})
	u.Put(User{Name: "esp2", Hash: hash(t, "pw-esp2"), Role: RoleDevice})
	u.Put(User{Name: "ha", Hash: hash(t, "pw-ha"), Role: RoleIntegration})
	return u
}

func startBroker(t testing.TB, opts Options) *Broker {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

type client struct {
	*paho.Client
	msgs chan *paho.Publish
}

// dial connects a paho (MQTT 5) client; user "" connects anonymously.
func dial(t *testing.T, b *Broker, user, pw string) (*client, error) {
	t.Helper()
	return dialWill(t, b, user, pw, "")
}

// dialWill is dial with a will on willTopic, when not empty.
func dialWill(t *testing.T, b *Broker, user, pw, willTopic string) (*client, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", b.Addr(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	return connectOver(t, conn, user, pw, willTopic)
}

// connectOver runs dialWill's MQTT 5 client over conn (TCP, TLS or a
// websocket), closing conn if the broker refuses it.
func connectOver(t *testing.T, conn net.Conn, user, pw, willTopic string) (*client, error) {
	t.Helper()
	c := &client{msgs: make(chan *paho.Publish, 256)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			select {
			case c.msgs <- pr.Packet:
			default:
				t.Errorf("test client %s: message queue full", user)
			}
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	cp := &paho.Connect{ClientID: "test-" + user + "-" + t.Name(), CleanStart: true, KeepAlive: 30}
	if _, ok := conn.(*net.TCPConn); !ok {
		// paho.golang v0.23.0 sends its first PINGREQ at once, from
		// another goroutine, without a lock; it writes a packet in
		// pieces, and over anything but a TCPConn (TLS, a websocket)
		// each piece is its own Write, so the PINGREQ can land inside
		// a PUBLISH. No keepalive, no pinger.
		cp.KeepAlive = 0
	}
	if willTopic != "" {
		cp.WillMessage = &paho.WillMessage{Topic: willTopic, Payload: []byte(`{"value":5}`), Retain: true, QoS: 1}
	}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte(pw), true
	}
	if _, err := c.Connect(ctx, cp); err != nil {
		conn.Close()
		return nil, err
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		conn.Close()
	})
	return c, nil
}

func mustDial(t *testing.T, b *Broker, user, pw string) *client {
	t.Helper()
	c, err := dial(t, b, user, pw)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	return c
}

func (c *client) sub(t *testing.T, filter string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	return err
}

func (c *client) pub(t *testing.T, topic, payload string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	_, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	return err
}

// await returns the next message on topic, skipping others.
func (c *client) await(t *testing.T, topic string) *paho.Publish {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-c.msgs:
			if m.Topic == topic {
				return m
			}
		case <-deadline:
			t.Fatalf("no message on %s within %v", topic, waitFor)
			return nil
		}
	}
}

func TestAuth(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	b := startBroker(t, Options{Users: testUsers(t), Now: clock.Now})
	if _, err := dial(t, b, "", ""); err == nil {
		t.Error("anonymous client accepted")
	}
	if _, err := dial(t, b, "esp1", "wrong"); err == nil {
		t.Error("wrong password accepted")
	}
	if _, err := dial(t, b, "nobody", "pw-esp1"); err == nil {
		t.Error("unknown user accepted")
	}
	if got := b.AuthFailures(); got != 3 {
		t.Errorf("AuthFailures = %d, want 3", got)
	}
	mustDial(t, b, "esp1", "pw-esp1")

	// Two more failures make five from this address: it is refused, even
	// with a good password, until a minute has passed.
	for range 2 {
		if _, err := dial(t, b, "esp2", "wrong"); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	if _, err := dial(t, b, "ha", "pw-ha"); err == nil {
		t.Error("login accepted during a block")
	}
	clock.Add(61 * time.Second)
	mustDial(t, b, "ha", "pw-ha")
}

func TestAuthPerUser(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	b := startBroker(t, Options{Users: testUsers(t), Now: clock.Now, MaxFailures: 3})
	for range 3 {
		if _, err := dial(t, b, "esp1", "guess"); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	if _, err := dial(t, b, "esp1", "pw-esp1"); err == nil {
		t.Error("login accepted during a block")
	}
	clock.Add(2 * time.Minute)
	mustDial(t, b, "esp1", "pw-esp1")
}

func newHub(t *testing.T) (*hub.Hub, *auditLog) {
	t.Helper()
	audit := new(auditLog)
	h := hub.New(hub.Options{Auditor: audit})
	if err := h.RegisterVirtual(hub.VirtualSpec{ID: "number.setpoint", Min: 5, Max: 30, Unit: "°C", Initial: hub.Number(20, "°C")}, hub.Value{}); err != nil {
		t.Fatal(err)
	}
	return h, audit
}

func setpoint(t *testing.T, h *hub.Hub) float64 {
	t.Helper()
	s, ok := h.Get("number.setpoint")
	if !ok {
		t.Fatal("no number.setpoint")
	}
	f, _ := s.Attrs[hub.VirtualValueAttr].Float()
	return f
}

func TestACL(t *testing.T) {
	h, _ := newHub(t)
	b := startBroker(t, Options{Users: testUsers(t), Hub: h})
	dev := mustDial(t, b, "esp1", "pw-esp1")
	integ := mustDial(t, b, "ha", "pw-ha")

	for _, c := range []struct {
		name   string
		c      *client
		filter string
		ok     bool
	}{
		{"device reads states", dev, "hearth/+/+/state", true},
		{"device reads its own subtree", dev, "devices/esp1/#", true},
		{"device reads another device", dev, "devices/esp2/#", false},
		{"device reads everything", dev, "#", false},
		{"device reads commands", dev, "hearth/+/+/set", false},
		{"integration reads hearth", integ, "hearth/#", true},
		{"integration reads devices", integ, "devices/#", false},
	} {
		if err := c.c.sub(t, c.filter); (err == nil) != c.ok {
			t.Errorf("%s: subscribe %s: err %v, want ok %v", c.name, c.filter, err, c.ok)
		}
	}
	for _, c := range []struct {
		name, topic, payload string
		c                    *client
		ok                   bool
	}{
		{"device writes its own subtree", "devices/esp1/temp", "21", dev, true},
		{"device writes another's", "devices/esp2/temp", "21", dev, false},
		{"device sets an entity", "hearth/number/setpoint/set", `{"value": 7}`, dev, false},
		{"device writes a state", "hearth/number/setpoint/state", `{"value": 7}`, dev, false},
		{"integration writes a state", "hearth/number/setpoint/state", `{"value": 7}`, integ, false},
	} {
		if err := c.c.pub(t, c.topic, c.payload); (err == nil) != c.ok {
			t.Errorf("%s: publish %s: err %v, want ok %v", c.name, c.topic, err, c.ok)
		}
	}
	// mochi does not check a will against the ACL: the broker does, at login.
	if _, err := dialWill(t, b, "esp1", "pw-esp1", "hearth/number/setpoint/state"); err == nil {
		t.Error("device connected with a will on a state topic")
	}
	if _, err := dialWill(t, b, "esp1", "pw-esp1", "devices/esp1/status"); err != nil {
		t.Errorf("device with a will on its own subtree: %v", err)
	}
	if v := setpoint(t, h); v != 20 {
		t.Fatalf("setpoint = %v after refused publishes, want 20", v)
	}
	// The refused state publish did not replace the retained state.
	integ.await(t, "hearth/number/setpoint/state")
	if err := integ.pub(t, "hearth/number/setpoint/set", `{"value": 22.5}`); err != nil {
		t.Fatal(err)
	}
	m := integ.await(t, "hearth/number/setpoint/state")
	if string(m.Payload) != `{"value":22.5}` {
		t.Errorf("state after set = %s", m.Payload)
	}
	if v := setpoint(t, h); v != 22.5 {
		t.Errorf("setpoint = %v, want 22.5", v)
	}
}

func TestBridgeRetainedState(t *testing.T) {
	h, _ := newHub(t)
	b := startBroker(t, Options{Users: testUsers(t), Hub: h})
	dev := mustDial(t, b, "esp1", "pw-esp1")
	if err := dev.sub(t, "hearth/+/+/state"); err != nil {
		t.Fatal(err)
	}
	m := dev.await(t, "hearth/number/setpoint/state")
	if !m.Retain || string(m.Payload) != `{"value":20}` {
		t.Errorf("retained state: retain %v payload %s", m.Retain, m.Payload)
	}
	// A change in the hub reaches the subscriber, and stays for the next.
	if _, err := h.Update("number.setpoint", "test", "", map[string]hub.Value{"value": hub.Number(25, "°C")}); err != nil {
		t.Fatal(err)
	}
	if m := dev.await(t, "hearth/number/setpoint/state"); string(m.Payload) != `{"value":25}` {
		t.Errorf("state after update: %s", m.Payload)
	}
	late := mustDial(t, b, "esp2", "pw-esp2")
	if err := late.sub(t, "hearth/+/+/state"); err != nil {
		t.Fatal(err)
	}
	if m := late.await(t, "hearth/number/setpoint/state"); !m.Retain || string(m.Payload) != `{"value":25}` {
		t.Errorf("late subscriber: retain %v payload %s", m.Retain, m.Payload)
	}
	integ := mustDial(t, b, "ha", "pw-ha")
	if err := integ.sub(t, StatusTopic); err != nil {
		t.Fatal(err)
	}
	if m := integ.await(t, StatusTopic); string(m.Payload) != "online" {
		t.Errorf("status %s", m.Payload)
	}
}

func TestBridgeCommand(t *testing.T) {
	h, audit := newHub(t)
	b := startBroker(t, Options{Users: testUsers(t), Hub: h})
	integ := mustDial(t, b, "ha", "pw-ha")
	if err := integ.sub(t, "hearth/#"); err != nil {
		t.Fatal(err)
	}
	integ.await(t, "hearth/number/setpoint/state")
	if err := integ.pub(t, "hearth/number/setpoint/set", `{"value": 18}`); err != nil {
		t.Fatal(err)
	}
	if m := integ.await(t, "hearth/number/setpoint/state"); string(m.Payload) != `{"value":18}` {
		t.Errorf("state after command: %s", m.Payload)
	}
	recs := audit.all()
	if len(recs) != 1 || recs[0].Principal != "mqtt:ha" || recs[0].Source != "mqtt" || recs[0].Outcome != hub.OutcomeOK {
		t.Fatalf("audit = %+v, want one ok record by mqtt:ha from mqtt", recs)
	}

	for _, bad := range []string{`not json`, `{"value": "warm"}`, `{"value": 99}`, `null`, `{"action": 3}`, `{"nope": 1}`} {
		if err := integ.pub(t, "hearth/number/setpoint/set", bad); err != nil {
			t.Fatal(err)
		}
		m := integ.await(t, "hearth/number/setpoint/error")
		var doc struct{ Error string }
		if err := json.Unmarshal(m.Payload, &doc); err != nil || doc.Error == "" {
			t.Errorf("payload %s: error message %s (%v)", bad, m.Payload, err)
		}
		if v := setpoint(t, h); v != 18 {
			t.Fatalf("payload %s changed the setpoint to %v", bad, v)
		}
	}
	// An unknown entity is answered too, and the broker is still fine.
	if err := integ.pub(t, "hearth/number/nothing/set", `{"value": 1}`); err != nil {
		t.Fatal(err)
	}
	if m := integ.await(t, "hearth/number/nothing/error"); !strings.Contains(string(m.Payload), "error") {
		t.Errorf("unknown entity: %s", m.Payload)
	}
	if err := integ.pub(t, "hearth/number/setpoint/set", `{"value": 19}`); err != nil {
		t.Fatal(err)
	}
	integ.await(t, "hearth/number/setpoint/state")
	if v := setpoint(t, h); v != 19 {
		t.Errorf("setpoint = %v, want 19", v)
	}
}

func TestHubAuthorizer(t *testing.T) {
	h, _ := newHub(t)
	startBroker(t, Options{Users: testUsers(t), Hub: h})
	ctx := t.Context()
	cmd := hub.Command{Entity: "number.setpoint", Action: hub.ActionSet, Args: map[string]hub.Value{"value": hub.Number(10, "°C")}, Source: "test"}
	for p, ok := range map[hub.Principal]bool{"mqtt:ha": true, "mqtt:esp1": false, "mqtt:nobody": false} {
		cmd.Principal = p
		if _, err := h.Do(ctx, cmd); (err == nil) != ok {
			t.Errorf("%s: err %v, want ok %v", p, err, ok)
		}
	}
}

// TestStatusOfflineOnClose reads with a raw client: paho hands a PUBLISH
// to its handler on another goroutine and may drop it when the DISCONNECT
// right behind it closes the client, which made this test flaky.
func TestStatusOfflineOnClose(t *testing.T) {
	h, _ := newHub(t)
	b := startBroker(t, Options{Users: testUsers(t), Hub: h})
	integ := rawDial(t, b, "status-watcher", "ha", "pw-ha")
	body := binary.BigEndian.AppendUint16(nil, 1)
	body = append(appendStr(body, StatusTopic), 1)
	if _, err := integ.c.Write(appendPacket(nil, 0x82, body)); err != nil {
		t.Fatal(err)
	}
	_ = integ.c.SetReadDeadline(time.Now().Add(waitFor))
	// next returns the payload of the next PUBLISH on StatusTopic,
	// acknowledging it, and skips other packets.
	next := func() string {
		t.Helper()
		for {
			hdr, pkt, err := integ.readPacket()
			if err != nil {
				t.Fatalf("reading %s: %v", StatusTopic, err)
			}
			if hdr>>4 != 3 {
				continue
			}
			n := int(binary.BigEndian.Uint16(pkt))
			topic, rest := string(pkt[2:2+n]), pkt[2+n:]
			if qos := hdr >> 1 & 3; qos > 0 {
				// After the broker closed, the PUBACK may find the
				// connection gone: that is fine.
				_, _ = integ.c.Write(appendPacket(nil, 0x40, rest[:2]))
				rest = rest[2:]
			}
			if topic == StatusTopic {
				return string(rest)
			}
		}
	}
	if got := next(); got != "online" {
		t.Fatalf("status %s", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "offline" {
		t.Errorf("status on close %s", got)
	}
	if err := b.Start(t.Context()); err == nil {
		t.Error("a closed broker started again")
	}
}

func TestCloseUnstarted(t *testing.T) {
	b, err := New(Options{Addr: "127.0.0.1:0", Users: new(MemUsers), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listener not released: %v", err)
	}
	l.Close()
}

// The bridge follows a burst of changes to the last state.
func TestBridgeBurst(t *testing.T) {
	h, _ := newHub(t)
	b := startBroker(t, Options{Users: testUsers(t), Hub: h})
	dev := mustDial(t, b, "esp1", "pw-esp1")
	if err := dev.sub(t, "hearth/+/+/state"); err != nil {
		t.Fatal(err)
	}
	dev.await(t, "hearth/number/setpoint/state")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				v := 5 + float64(g*50+i)/10
				if _, err := h.Update("number.setpoint", "test", "", map[string]hub.Value{"value": hub.Number(v, "°C")}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want, _ := json.Marshal(map[string]float64{"value": setpoint(t, h)})
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-dev.msgs:
			if string(m.Payload) == string(want) {
				return
			}
		case <-deadline:
			t.Fatalf("never saw the final state %s", want)
		}
	}
}
