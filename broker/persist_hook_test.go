package broker

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hearth-hub/hearth/store"
)

func openTestStore(tb testing.TB, path string) *store.DB {
	tb.Helper()
	opts := store.DefaultOptions()
	opts.CompactEvery = 0
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(path, opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// newTestPersistHook is the hook alone, as mochi would set it up.
func newTestPersistHook(tb testing.TB, db *store.DB, interval time.Duration, maxPending int, log *slog.Logger) *PersistHook {
	tb.Helper()
	h := new(PersistHook)
	h.SetOpts(log, nil)
	if err := h.Init(&PersistOptions{Store: db, Users: new(MemUsers), Sessions: new(Sessions), Interval: interval, MaxPending: maxPending}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Stop() })
	return h
}

// testSessionClient is a mochi client of an MQTT 3.1.1 session, persistent
// (clean session false) or not.
func testSessionClient(id string, persistent bool) *mqtt.Client {
	cl := mqtt.New(nil).NewClient(nil, "tcp", id, false)
	cl.Properties.ProtocolVersion = 4
	cl.Properties.Clean = !persistent
	return cl
}

func qos1(id uint16) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: id,
		TopicName: "devices/esp1/door", Payload: []byte("open")}
}

func TestPersistHook_Init(t *testing.T) {
	db := openTestStore(t, filepath.Join(t.TempDir(), "hearth.db"))
	for _, tc := range []struct {
		name   string
		config any
		want   string
	}{
		{"nil", nil, "want *PersistOptions with Store, Users and Sessions, got <nil>"},
		{"by value", PersistOptions{Store: db}, "got broker.PersistOptions"},
		{"no users", &PersistOptions{Store: db, Sessions: new(Sessions)}, "want *PersistOptions with Store, Users and Sessions"},
		{"negative interval", &PersistOptions{Store: db, Users: new(MemUsers), Sessions: new(Sessions), Interval: -time.Second}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := new(PersistHook).Init(tc.config)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Init()=%v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestPersistHook_Coalesces(t *testing.T) {
	ctx := context.Background()
	db := openTestStore(t, filepath.Join(t.TempDir(), "hearth.db"))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	t.Run("acknowledged before the flush: nothing written", func(t *testing.T) {
		h := newTestPersistHook(t, db, time.Hour, 1<<20, quiet)
		cl := testSessionClient("sub", true)
		for i := range uint16(100) {
			h.OnQosPublish(cl, qos1(i+1), 0, 0)
			h.OnQosComplete(cl, packets.Packet{PacketID: i + 1})
		}
		if got := h.Stats().Pending; got != 0 {
			t.Fatalf("Stats().Pending=%d after 100 put-and-delete pairs, want 0", got)
		}
		if err := h.Stop(); err != nil {
			t.Fatal(err)
		}
		if got := h.Stats(); got.Written != 0 || got.Flushes != 0 {
			t.Fatalf("Stats()=%+v, want nothing written", got)
		}
	})

	t.Run("written, then deleted", func(t *testing.T) {
		h := newTestPersistHook(t, db, time.Hour, 1<<20, quiet)
		cl := testSessionClient("sub", true)
		h.OnQosPublish(cl, qos1(7), 0, 0)
		h.OnQosPublish(testSessionClient("clean", false), qos1(8), 0, 0) // not kept
		if err := h.flush(); err != nil {
			t.Fatal(err)
		}
		rows, err := db.LoadMQTT(ctx, store.MQTTInflight)
		if err != nil || len(rows) != 1 || rows[0].Client != "sub" || rows[0].Name != "7" {
			t.Fatalf("LoadMQTT(inflight)=%+v, %v; want sub|7", rows, err)
		}
		h.OnQosComplete(cl, packets.Packet{PacketID: 7})
		if got, want := h.Stats().Pending, 1; got != want {
			t.Fatalf("Stats().Pending=%d after the ack, want %d (the delete)", got, want)
		}
		if err := h.Stop(); err != nil {
			t.Fatal(err)
		}
		if rows, err := db.LoadMQTT(ctx, store.MQTTInflight); err != nil || len(rows) != 0 {
			t.Fatalf("LoadMQTT(inflight)=%+v, %v; want none", rows, err)
		}
		if got, want := h.Stats().Written, uint64(2); got != want {
			t.Fatalf("Stats().Written=%d, want %d", got, want)
		}
	})

	t.Run("flushed early at MaxPending", func(t *testing.T) {
		h := newTestPersistHook(t, db, time.Hour, 10, quiet)
		dev := testSessionClient("esp1", false)
		for i := range 10 {
			h.OnRetainMessage(dev, packets.Packet{TopicName: "devices/esp1/t" + strconv.Itoa(i), Payload: []byte("1")}, 1)
		}
		deadline := time.Now().Add(waitFor)
		for h.Stats().Flushes == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no flush within %v at MaxPending, an hour before the interval", waitFor)
			}
			time.Sleep(time.Millisecond)
		}
		if rows, err := db.LoadMQTT(ctx, store.MQTTRetained); err != nil || len(rows) != 10 {
			t.Fatalf("LoadMQTT(retained)=%d rows, %v; want 10", len(rows), err)
		}
	})
}

func TestPersistHook_FlushFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	db := openTestStore(t, path)
	lines := new(countHandler)
	h := newTestPersistHook(t, db, time.Hour, 1<<20, slog.New(lines))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	dev := testSessionClient("esp1", false)
	h.OnRetainMessage(dev, packets.Packet{TopicName: "devices/esp1/temp", Payload: []byte("21.5")}, 1)
	for range 3 {
		if err := h.flush(); err == nil {
			t.Fatal("flush() into a closed store=nil, want an error")
		}
	}
	if got := h.Stats(); got.Failures != 3 || got.Pending != 1 || got.Written != 0 {
		t.Fatalf("Stats()=%+v, want 3 failures and the change still pending", got)
	}
	if got, want := lines.n, 1; got != want {
		t.Fatalf("%d log lines for 3 failures within a minute, want %d", got, want)
	}
	// A newer change made while failing wins over the failed one.
	h.OnRetainMessage(dev, packets.Packet{TopicName: "devices/esp1/temp", Payload: []byte("22")}, 1)
	db2 := openTestStore(t, path)
	h.mu.Lock()
	h.opts.Store = db2 // the store is back
	h.mu.Unlock()
	if err := h.flush(); err != nil {
		t.Fatalf("flush() after the store came back: %v", err)
	}
	rows, err := db2.LoadMQTT(context.Background(), store.MQTTRetained)
	if err != nil || len(rows) != 1 || !strings.Contains(string(rows[0].Value), `"payload":"MjI="`) {
		t.Fatalf("LoadMQTT(retained)=%+v, %v; want the newer payload 22", rows, err)
	}
}

// BenchmarkPersistHook_QoS1 is the hook's cost for one QoS 1 message to a
// subscriber that acknowledges it within the flush window: put, then
// delete, with the flusher running on a real store.
func BenchmarkPersistHook_QoS1(b *testing.B) {
	for _, persistent := range []bool{true, false} {
		name := "clean session"
		if persistent {
			name = "persistent session"
		}
		b.Run(name, func(b *testing.B) {
			db := openTestStore(b, filepath.Join(b.TempDir(), "hearth.db"))
			h := newTestPersistHook(b, db, DefaultPersistInterval, DefaultPersistMaxPending, slog.New(slog.NewTextHandler(io.Discard, nil)))
			cl := testSessionClient("sub", persistent)
			pk := qos1(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pk.PacketID = uint16(i%65535) + 1
				h.OnQosPublish(cl, pk, 0, 0)
				h.OnQosComplete(cl, pk)
			}
		})
	}
}
