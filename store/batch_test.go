package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/store"
)

func TestDB_Append(t *testing.T) {
	t.Run("BatchSize commits before the interval", func(t *testing.T) {
		opts := testOptions(t)
		opts.BatchInterval = time.Hour
		opts.BatchSize = 10
		db := MustOpen(t, tempPath(t), opts)
		var cs []store.Change
		for i := range 10 {
			cs = append(cs, num(uint64(i+1), t0, "sensor.a", "value", float64(i), ""))
		}
		db.Append(cs[:4])
		db.Append(cs[4:])
		MustWaitFor(t, "a commit of 10 changes", func() bool { return db.Committed() == 10 })
		if got, want := db.Stats().ChangesWritten, uint64(10); got != want {
			t.Fatalf("Stats().ChangesWritten=%d, want %d", got, want)
		}
	})

	t.Run("interval commits a small batch", func(t *testing.T) {
		opts := testOptions(t)
		opts.BatchInterval = 10 * time.Millisecond
		db := MustOpen(t, tempPath(t), opts)
		db.Append([]store.Change{num(7, t0, "sensor.a", "value", 1, "")})
		MustWaitFor(t, "the ticker's commit", func() bool { return db.Committed() == 7 })
		if got, want := db.Stats().Pending, 0; got != want {
			t.Fatalf("Stats().Pending=%d, want %d", got, want)
		}
	})

	t.Run("copies the slice", func(t *testing.T) {
		opts := testOptions(t)
		opts.BatchInterval = time.Hour
		db := MustOpen(t, tempPath(t), opts)
		cs := []store.Change{num(1, t0, "sensor.a", "value", 1, "")}
		db.Append(cs)
		cs[0].Value.Num = 99
		MustFlush(t, db)
		st, err := db.LoadState(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st[0].Value.Num, 1.0; got != want {
			t.Fatalf("LoadState()[0].Value.Num=%v, want %v", got, want)
		}
	})

	t.Run("blocks while MaxPending are pending", func(t *testing.T) {
		opts := testOptions(t)
		opts.BatchInterval = time.Millisecond
		opts.BatchSize, opts.MaxPending = 5, 5
		var wedged atomic.Bool
		release := make(chan struct{})
		opts.OnTick = func() {
			if wedged.Load() {
				<-release
			}
		}
		db := MustOpen(t, tempPath(t), opts)
		wedged.Store(true)
		time.Sleep(5 * time.Millisecond) // let the writer reach the wedge
		var cs []store.Change
		for i := range 5 {
			cs = append(cs, num(uint64(i+1), t0, "sensor.a", "value", float64(i), ""))
		}
		db.Append(cs)
		done := make(chan struct{})
		go func() {
			db.Append([]store.Change{num(6, t0, "sensor.a", "value", 6, "")})
			close(done)
		}()
		select {
		case <-done:
			t.Fatalf("Append returned with MaxPending changes pending and the writer wedged")
		case <-time.After(50 * time.Millisecond):
		}
		if got, want := db.Stats().Pending, 5; got != want {
			t.Fatalf("Stats().Pending=%d, want %d", got, want)
		}
		wedged.Store(false)
		close(release)
		<-done
		if err := db.WaitCommitted(context.Background(), 6); err != nil {
			t.Fatalf("WaitCommitted(6)=%v", err)
		}
	})

	t.Run("after Close is a no-op", func(t *testing.T) {
		db := MustOpen(t, tempPath(t), testOptions(t))
		MustClose(t, db)
		db.Append([]store.Change{num(1, t0, "sensor.a", "value", 1, "")})
		db.Append([]store.Change{num(2, t0, "sensor.a", "value", 1, "")})
		if got, want := db.Committed(), uint64(0); got != want {
			t.Fatalf("Committed()=%d, want %d", got, want)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("second Close()=%v, want nil", err)
		}
	})
}

func TestDB_WaitCommitted(t *testing.T) {
	opts := testOptions(t)
	opts.BatchInterval = time.Hour // only the wait itself makes the writer commit
	db := MustOpen(t, tempPath(t), opts)
	ctx := context.Background()

	t.Run("commits now", func(t *testing.T) {
		db.Append([]store.Change{num(3, t0, "sensor.a", "value", 1, ""), num(3, t0, "sensor.a", "x", 2, "")})
		if err := db.WaitCommitted(ctx, 3); err != nil {
			t.Fatalf("WaitCommitted(3)=%v", err)
		}
		if got, want := db.Committed(), uint64(3); got != want {
			t.Fatalf("Committed()=%d, want %d", got, want)
		}
	})

	t.Run("already committed", func(t *testing.T) {
		if err := db.WaitCommitted(ctx, 2); err != nil {
			t.Fatalf("WaitCommitted(2)=%v", err)
		}
	})

	t.Run("never appended waits for ctx", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if err := db.WaitCommitted(ctx, 100); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitCommitted(100)=%v, want DeadlineExceeded", err)
		}
	})

	t.Run("after Close", func(t *testing.T) {
		MustClose(t, db)
		if err := db.WaitCommitted(ctx, 100); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("WaitCommitted(100)=%v, want ErrClosed", err)
		}
		if err := db.Flush(ctx); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Flush()=%v, want ErrClosed", err)
		}
	})
}

func TestDB_LoadState(t *testing.T) {
	path := tempPath(t)
	opts := testOptions(t)
	opts.BatchInterval = time.Hour
	db := MustOpen(t, path, opts)
	ctx := context.Background()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	db.Append([]store.Change{
		num(1, at(1), "thermostat.living_room", "target", 20, "°C"),
		enum(1, at(1), "thermostat.living_room", "mode", "heat"),
		num(2, at(2), "thermostat.living_room", "target", 21, "°C"),
	})
	MustFlush(t, db)
	db.Append([]store.Change{
		num(3, at(3), "thermostat.living_room", "target", 21.5, "°C"),
		{Seq: 4, At: at(4), Entity: "lock.front_door", Attr: "locked", Source: "hardware",
			Value: store.Value{Type: store.TypeBool, Num: 1}},
		{Seq: 4, At: at(4), Entity: "lock.front_door", Attr: "last_change", Source: "hardware",
			Value: store.Value{Type: store.TypeTime, Text: at(4).Format(time.RFC3339Nano)}},
		{Seq: 5, At: at(5).Add(123), Entity: "contact.back_door", Attr: "label", Source: "config",
			Value: store.Value{Type: store.TypeString, Text: "Back door"}},
		num(6, at(6), "thermostat.living_room", "target", 22, "°C"),
	})
	MustFlush(t, db)

	want := []store.Change{
		{Seq: 5, At: at(5).Add(123), Entity: "contact.back_door", Attr: "label", Source: "config",
			Value: store.Value{Type: store.TypeString, Text: "Back door"}},
		{Seq: 4, At: at(4), Entity: "lock.front_door", Attr: "last_change", Source: "hardware",
			Value: store.Value{Type: store.TypeTime, Text: at(4).Format(time.RFC3339Nano)}},
		{Seq: 4, At: at(4), Entity: "lock.front_door", Attr: "locked", Source: "hardware",
			Value: store.Value{Type: store.TypeBool, Num: 1}},
		enum(1, at(1), "thermostat.living_room", "mode", "heat"),
		num(6, at(6), "thermostat.living_room", "target", 22, "°C"),
	}
	check := func(t *testing.T, db *store.DB, want []store.Change) {
		t.Helper()
		got, err := db.LoadState(ctx)
		if err != nil {
			t.Fatalf("LoadState()=%v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("LoadState()=%d changes, want %d: %+v", len(got), len(want), got)
		}
		for i := range want {
			g, w := got[i], want[i]
			if !g.At.Equal(w.At) || g.At.Location() != time.UTC {
				t.Fatalf("LoadState()[%d].At=%v, want %v in UTC", i, g.At, w.At)
			}
			g.At = w.At
			if g != w {
				t.Fatalf("LoadState()[%d]=%+v, want %+v", i, g, w)
			}
		}
	}
	t.Run("latest per attribute", func(t *testing.T) { check(t, db, want) })

	outer := t
	t.Run("after reopen", func(t *testing.T) {
		MustClose(t, db)
		db = MustOpen(outer, path, opts)
		check(t, db, want)
	})

	t.Run("DeleteState forgets an entity, keeps its history", func(t *testing.T) {
		if err := db.DeleteState(ctx, "lock.front_door"); err != nil {
			t.Fatalf("DeleteState()=%v", err)
		}
		check(t, db, []store.Change{want[0], want[3], want[4]})
		h, err := db.History(ctx, store.HistoryQuery{Entity: "lock.front_door", Attr: "locked"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(h[0].Points), 1; got != want {
			t.Fatalf("History()=%d points, want %d", got, want)
		}
	})

	t.Run("DeleteState after pending changes of the entity", func(t *testing.T) {
		db.Append([]store.Change{num(7, at(7), "sensor.gone", "value", 1, "")})
		if err := db.DeleteState(ctx, "sensor.gone"); err != nil {
			t.Fatalf("DeleteState()=%v", err)
		}
		if got, want := db.Committed(), uint64(7); got != want {
			t.Fatalf("Committed()=%d, want %d", got, want)
		}
		check(t, db, []store.Change{want[0], want[3], want[4]})
	})
}

func TestDB_Stats(t *testing.T) {
	db := MustOpen(t, tempPath(t), testOptions(t))
	for i := range 3 {
		db.Append([]store.Change{num(uint64(i+1), t0, "sensor.a", fmt.Sprint("v", i), 1, "")})
		MustFlush(t, db)
	}
	st := db.Stats()
	if got, want := st.Commits, uint64(3); got != want {
		t.Fatalf("Stats().Commits=%d, want %d", got, want)
	}
	if got, want := st.ChangesWritten, uint64(3); got != want {
		t.Fatalf("Stats().ChangesWritten=%d, want %d", got, want)
	}
	if st.LastCommit.IsZero() || st.LastError != "" || st.CommitErrors != 0 {
		t.Fatalf("Stats()=%+v, want a last commit and no error", st)
	}
}

func TestDB_Committed(t *testing.T) {
	ctx := context.Background()
	reopen := func(t *testing.T, db *store.DB) *store.DB {
		t.Helper()
		MustClose(t, db)
		return MustOpen(t, db.Path(), testOptions(t))
	}

	t.Run("survives reopen", func(t *testing.T) {
		db := MustOpen(t, tempPath(t), testOptions(t))
		if got, want := db.Committed(), uint64(0); got != want {
			t.Fatalf("Committed() of a new store=%d, want %d", got, want)
		}
		db.Append([]store.Change{num(5, t0, "sensor.a", "value", 1, ""), num(6, t0, "sensor.b", "value", 1, "")})
		MustFlush(t, db)
		if got, want := reopen(t, db).Committed(), uint64(6); got != want {
			t.Fatalf("Committed()=%d, want %d", got, want)
		}
	})

	t.Run("an older seq overwriting the newest state", func(t *testing.T) {
		db := MustOpen(t, tempPath(t), testOptions(t))
		db.Append([]store.Change{num(10, t0, "sensor.a", "value", 1, "")})
		MustFlush(t, db)
		db.Append([]store.Change{num(4, t0, "sensor.a", "value", 2, "")})
		MustFlush(t, db)
		if got, want := reopen(t, db).Committed(), uint64(10); got != want {
			t.Fatalf("Committed()=%d, want %d", got, want)
		}
	})

	t.Run("DeleteState of the newest entity", func(t *testing.T) {
		db := MustOpen(t, tempPath(t), testOptions(t))
		db.Append([]store.Change{num(3, t0, "sensor.a", "value", 1, ""), num(20, t0, "sensor.gone", "value", 1, "")})
		if err := db.DeleteState(ctx, "sensor.gone"); err != nil {
			t.Fatal(err)
		}
		if got, want := reopen(t, db).Committed(), uint64(20); got != want {
			t.Fatalf("Committed()=%d, want %d", got, want)
		}
	})
}
