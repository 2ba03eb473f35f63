package daemon

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/hub"
	"github.com/hearth-hub/hearth/store"
)

func storeAuditQuery(entity string) store.AuditQuery { return store.AuditQuery{Entity: entity} }

func TestDaemon_Restart(t *testing.T) {
	cfg := testConfig(t)
	r := MustStart(t, cfg)
	resp := mustCommand(t, r.client, api.CommandRequest{Entity: "number.away_temperature", Action: "set", Args: map[string]json.RawMessage{"value": raw("22.5")}})
	mustCommand(t, r.client, api.CommandRequest{Entity: "text.note", Action: "set", Args: map[string]json.RawMessage{"value": raw(`"plumber on Tuesday"`)}})
	if err := r.stop(); err != nil {
		t.Fatalf("stop=%v", err)
	}

	r2 := MustStart(t, cfg)
	ctx := context.Background()
	for id, want := range map[string]string{"number.away_temperature": "22.5 °C", "text.note": "plumber on Tuesday", "boolean.guest_mode": "false"} {
		e, err := r2.client.Entity(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Attrs["value"].String(); got != want {
			t.Fatalf("%s after restart=%q, want %q", id, got, want)
		}
	}
	// Sequence numbers continue: history never sees one twice.
	resp2 := mustCommand(t, r2.client, api.CommandRequest{Entity: "number.away_temperature", Action: "set", Args: map[string]json.RawMessage{"value": raw("10")}})
	if resp2.Seq <= resp.Seq {
		t.Fatalf("seq after restart=%d, want > %d", resp2.Seq, resp.Seq)
	}
}

func TestDaemon_RestoredValueOutOfRange(t *testing.T) {
	cfg := testConfig(t)
	r := MustStart(t, cfg)
	mustCommand(t, r.client, api.CommandRequest{Entity: "number.away_temperature", Action: "set", Args: map[string]json.RawMessage{"value": raw("24")}})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	// The owner narrows the range: the kept 24 no longer fits and the initial value is used.
	cfg.Virtual[0].Max = ptr(20.0)
	r2 := MustStart(t, cfg)
	e, err := r2.client.Entity(context.Background(), "number.away_temperature")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Attrs["value"].String(), "16 °C"; got != want {
		t.Fatalf("value=%q, want %q", got, want)
	}
}

func TestDaemon_RefusesForeignStore(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
		want error
	}{
		{"text file", func(p string) error { return os.WriteFile(p, []byte("my shopping list\n"), 0o600) }, store.ErrNotSQLite},
		{"another application's database", func(p string) error {
			db, err := sql.Open("sqlite3", p)
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.Exec(`CREATE TABLE recipes(name TEXT); INSERT INTO recipes VALUES ('soup')`)
			return err
		}, store.ErrForeign},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			if err := tc.make(cfg.StorePath()); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(cfg.StorePath())
			_, err := New(cfg, io.Discard)
			if !errors.Is(err, tc.want) {
				t.Fatalf("New()=%v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), cfg.StorePath()) {
				t.Fatalf("error %q does not name the file", err)
			}
			after, _ := os.ReadFile(cfg.StorePath())
			if string(before) != string(after) {
				t.Fatal("the refused file was modified")
			}
		})
	}
}

func TestDaemon_Reload(t *testing.T) {
	cfg := testConfig(t)
	r := MustStart(t, cfg)
	ctx := context.Background()
	mustCommand(t, r.client, api.CommandRequest{Entity: "select.house_mode", Action: "set", Args: map[string]json.RawMessage{"value": raw(`"away"`)}})

	t.Run("a bad config is rejected and the old one stays", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(path, []byte("store:\n  batch_size: lots\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r.d.reloadFrom(path)
		if got, want := r.d.Config(), cfg; got != want {
			t.Fatal("config replaced by a bad one")
		}
		if _, err := r.client.Entity(ctx, "text.note"); err != nil {
			t.Fatalf("entities changed: %v", err)
		}
	})
	t.Run("helpers added, removed and redefined", func(t *testing.T) {
		next := testConfig(t)
		next.StateDir, next.API, next.Store = cfg.StateDir, cfg.API, cfg.Store
		next.Virtual = []VirtualConfig{
			{ID: "select.house_mode", Options: []string{"home", "away", "night", "vacation"}},
			{ID: "number.hot_water", Min: ptr(40.0), Max: ptr(65.0), Unit: "°C", Initial: 55.0},
		}
		if err := r.d.Reload(next); err != nil {
			t.Fatalf("Reload()=%v", err)
		}
		all, err := r.client.Entities(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range all {
			ids = append(ids, string(e.ID))
		}
		if got, want := strings.Join(ids, ","), "number.hot_water,select.house_mode"; got != want {
			t.Fatalf("entities=%s, want %s", got, want)
		}
		e, _ := r.client.Entity(ctx, "select.house_mode")
		if got, want := e.Attrs["value"].String(), "away"; got != want {
			t.Fatalf("redefined helper's value=%q, want %q kept", got, want)
		}
		if got, want := len(e.Schema[0].Options), 4; got != want {
			t.Fatalf("options=%d, want %d", got, want)
		}
	})
	t.Run("changes needing a restart are reported", func(t *testing.T) {
		next := *r.d.Config()
		next.Store.BatchSize = 42
		if err := r.d.Reload(&next); err != nil {
			t.Fatal(err)
		}
		h, err := r.client.Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(h.Restart, ","), "store"; got != want {
			t.Fatalf("restart needed for %q, want %q", got, want)
		}
		if got, want := r.d.Config().Store.BatchSize, cfg.Store.BatchSize; got != want {
			t.Fatalf("batch size in force=%d, want %d until a restart", got, want)
		}
	})
}

func TestDaemon_Watchdog(t *testing.T) {
	r := MustStart(t, testConfig(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pings := make(chan string, 1000)
	go r.d.watchdog(ctx, 60*time.Millisecond, func(s string) { pings <- s })

	// While every loop ticks, the watchdog is fed.
	select {
	case s := <-pings:
		if s != "WATCHDOG=1" {
			t.Fatalf("notify(%q), want WATCHDOG=1", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no watchdog ping while every loop is alive")
	}

	// A loop that stops ticking stops the pings, so systemd restarts us.
	beat := r.d.Hub().Liveness().Register("wedged", time.Millisecond)
	waitFor(t, func() bool { return len(r.d.Hub().Liveness().Overdue(time.Now())) > 0 })
	for len(pings) > 0 {
		<-pings
	}
	select {
	case s := <-pings:
		// One ping may have been on its way when the loop wedged.
		select {
		case s2 := <-pings:
			t.Fatalf("pings %q and %q with a wedged loop", s, s2)
		case <-time.After(300 * time.Millisecond):
		}
	case <-time.After(300 * time.Millisecond):
	}
	h, err := r.client.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "degraded" || !strings.Contains(strings.Join(h.Problems, ";"), "loop overdue: wedged") {
		t.Fatalf("health=%s %v, want degraded naming the wedged loop", h.Status, h.Problems)
	}

	// Once it ticks again, the pings resume.
	beat.Done()
	select {
	case <-pings:
	case <-time.After(10 * time.Second):
		t.Fatal("pings did not resume")
	}
}

// TestDaemon_RecorderOverflow fills the store's bus queue before the
// recorder runs: the overflow is counted and shown in health, and the
// recorder writes the current state again so the store ends up right.
func TestDaemon_RecorderOverflow(t *testing.T) {
	cfg := testConfig(t)
	cfg.Bus.QueueSize = 4 // below what Validate allows, to overflow at once
	d, err := New(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for v := 6; v <= 25; v++ {
		if _, err := d.Hub().Update("number.away_temperature", "test", "", map[string]hub.Value{"value": hub.Number(float64(v), "°C")}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, func() { close(ready) }) }()
	<-ready
	waitFor(t, func() bool { return d.Store().Committed() >= d.Hub().Seq() })

	h := d.Health()
	if h.Status != "degraded" || !strings.Contains(strings.Join(h.Problems, ";"), `bus subscriber "store" dropped 16 events`) {
		t.Fatalf("health=%s %v, want degraded with 16 dropped", h.Status, h.Problems)
	}
	state, err := d.Store().LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got float64
	for _, c := range state {
		if c.Entity == "number.away_temperature" {
			got = c.Value.Num
		}
	}
	if got != 25 {
		t.Fatalf("stored state=%v, want 25 (the value the hub holds)", got)
	}
	cancel()
	if err := errors.Join(<-done, d.Close()); err != nil {
		t.Fatal(err)
	}
}
