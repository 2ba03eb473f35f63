package mqttbench

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hearth-hub/hearth/broker"
	"github.com/hearth-hub/hearth/daemon"
)

// testTarget adds an account that may not write under devices/.
type testTarget struct {
	Target
	integration Account
}

// startBroker runs Hearth's broker in this process on a free port, with
// the bench's accounts, and returns it as a Target whose PID is this
// test's (so CPU and RSS are read for real).
func startBroker(t *testing.T, publishers int) testTarget {
	t.Helper()
	users := new(broker.MemUsers)
	tg := testTarget{Target: Target{Name: "test", PID: os.Getpid()}}
	add := func(name, role string) Account {
		h, err := bcrypt.GenerateFromPassword([]byte("pw-"+name), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		users.Put(broker.User{Name: name, Hash: h, Role: role})
		return Account{User: name, Password: "pw-" + name}
	}
	for i := range publishers {
		tg.Publishers = append(tg.Publishers, add(publisherUser(i), broker.RoleDevice))
	}
	tg.Subscriber = add(subscriberUser, broker.RoleAdmin)
	tg.Pinger = add(pingerUser, broker.RoleDevice)
	tg.Replier = add(replierUser, broker.RoleAdmin)
	tg.Idle = add(idleUser, broker.RoleDevice)
	tg.integration = add("bench_ha", broker.RoleIntegration)
	b, err := broker.New(broker.Options{Addr: "127.0.0.1:0", Users: users, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tg.Addr = b.Addr()
	return tg
}

// The loads against the real broker, small: every message counted once,
// the round trip measured, idle clients connected.
func TestLoads_HearthBroker(t *testing.T) {
	tg := startBroker(t, 4)
	for _, qos := range []byte{0, 1} {
		r, err := RunFanIn(tg.Target, FanIn{QoS: qos, PerPublisher: 500, Window: 10})
		if err != nil {
			t.Fatalf("qos %d: %v", qos, err)
		}
		if r.Expected != 2000 || r.Unique != 2000 || r.Lost() != 0 || r.Duplicates != 0 || r.Foreign != 0 {
			t.Fatalf("qos %d: %+v, want all 2000 delivered once", qos, r)
		}
		if r.Elapsed <= 0 || r.Rate() <= 0 {
			t.Fatalf("qos %d: elapsed %v, rate %v; want > 0", qos, r.Elapsed, r.Rate())
		}
	}
	rt, err := RunRoundTrip(tg.Target, 5, 50)
	if err != nil {
		t.Fatal(err)
	}
	if rt.N != 50 || rt.P50 <= 0 || rt.P99 < rt.P50 {
		t.Fatalf("round trip %+v: want 50 samples, 0 < p50 <= p99", rt)
	}
	idle, err := RunIdle(tg.Target, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if idle.Clients != 10 || idle.Before <= 0 || idle.After <= 0 {
		t.Fatalf("idle %+v: want 10 clients and both RSS readings", idle)
	}
}

// The ACL is on: a publisher whose role may not write its devices/ topic
// has all its messages refused, and the fan-in counts them as lost after
// the quiet time instead of waiting forever or reporting success.
func TestRunFanIn_CountsLoss(t *testing.T) {
	tg := startBroker(t, 2)
	tg.Publishers[1] = tg.integration
	r, err := RunFanIn(tg.Target, FanIn{QoS: 0, PerPublisher: 200, Quiet: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Unique != 200 || r.Lost() != 200 || r.Duplicates != 0 {
		t.Fatalf("fan-in %+v: want 200 delivered (the device's) and 200 lost (the integration's)", r)
	}
	if _, err := Dial(tg.Addr, "bench-bad", Account{User: subscriberUser, Password: "wrong"}, dialTimeout); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Dial with a wrong password: err=%v, want refused", err)
	}
}

// The generated hearthd configuration is valid and turns the per-client
// rate limit off.
func TestHearthConfig(t *testing.T) {
	dir := t.TempDir()
	cfg, err := daemon.ParseConfig(strings.NewReader(HearthConfig(dir, "127.0.0.1:18830")))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.MQTT.Listen, "127.0.0.1:18830"; got != want {
		t.Fatalf("mqtt.listen=%q, want %q", got, want)
	}
	if got := cfg.MQTT.ClientRate; got != 0 {
		t.Fatalf("mqtt.client_rate=%v, want 0 (off)", got)
	}
	if got := len(cfg.Virtual); got == 0 {
		t.Fatal("no virtual entities: the hub bridge would have nothing to publish")
	}
}

func TestMosquittoFiles(t *testing.T) {
	conf, err := MosquittoConfig("/tmp/x", "127.0.0.1:18831")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"listener 18831 127.0.0.1\n", "allow_anonymous false\n", "set_tcp_nodelay true\n", "max_queued_messages 0\n", "password_file /tmp/x/passwd\n", "acl_file /tmp/x/acl\n"} {
		if !strings.Contains(conf, s) {
			t.Errorf("mosquitto.conf lacks %q:\n%s", s, conf)
		}
	}
	if _, err := MosquittoConfig("/tmp/x", "no port"); err == nil {
		t.Error("MosquittoConfig(no port): no error")
	}
	acl := MosquittoACL("a1")
	for _, s := range []string{"pattern readwrite devices/%u/#\n", "user a1\ntopic readwrite #\n"} {
		if !strings.Contains(acl, s) {
			t.Errorf("acl lacks %q:\n%s", s, acl)
		}
	}
}
