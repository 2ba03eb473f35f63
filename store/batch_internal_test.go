package store

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", p)
	return len(p), nil
}

// TestDB_Flush_diskFull fills the "disk" by capping the writer connection's
// page count, which fails commits with SQLITE_FULL as a full SD card would.
func TestDB_Flush_diskFull(t *testing.T) {
	ctx := context.Background()
	opts := DefaultOptions()
	opts.CompactEvery = 0
	opts.BatchInterval = 5 * time.Millisecond
	opts.Logger = slog.New(slog.NewTextHandler(logWriter{t}, nil))
	db, err := Open(filepath.Join(t.TempDir(), "hearth.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	change := func(seq int) Change {
		return Change{Seq: uint64(seq), At: at.Add(time.Duration(seq) * time.Second), Entity: "sensor.a",
			Attr: "value", Value: Value{Type: TypeNumber, Num: float64(seq)}}
	}
	db.Append([]Change{change(1)})
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	setMaxPages := func(n string) {
		t.Helper()
		if _, err := db.w.conn.ExecContext(ctx, "PRAGMA max_page_count = "+n); err != nil {
			t.Fatal(err)
		}
	}
	var pages string
	if err := db.w.conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	setMaxPages(pages)

	var cs []Change
	for i := 2; i <= 5000; i++ {
		cs = append(cs, change(i))
	}
	db.Append(cs)
	err = db.WaitCommitted(ctx, 5000)
	if err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("WaitCommitted() on a full disk=%v, want a disk-full error", err)
	}
	if got, want := db.Committed(), uint64(1); got != want {
		t.Fatalf("Committed()=%d, want %d", got, want)
	}
	st := db.Stats()
	if st.CommitErrors == 0 || !strings.Contains(st.LastError, "full") {
		t.Fatalf("Stats()=%+v, want commit errors counted", st)
	}
	if got, want := st.Pending, 4999; got != want {
		t.Fatalf("Stats().Pending=%d, want %d: the failed batch must be kept", got, want)
	}
	row := &AuditRow{Principal: "owner", Entity: "lock.front_door", Action: "unlock", Args: "{}", Outcome: "ok"}
	if err := db.Audit(ctx, row, true); err == nil {
		t.Fatalf("durable Audit() on a full disk=nil, want an error")
	}

	setMaxPages("1073741823")
	if err := db.WaitCommitted(ctx, 5000); err != nil {
		t.Fatalf("WaitCommitted() after space came back=%v", err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := db.History(ctx, HistoryQuery{Entity: "sensor.a"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(h[0].Points), 5000; got != want {
		t.Fatalf("History()=%d points, want %d", got, want)
	}
	for i, p := range h[0].Points {
		if got, want := p.Value.Num, float64(i+1); got != want {
			t.Fatalf("point %d=%v, want %v", i, got, want)
		}
	}
	rows, err := db.QueryAudit(ctx, AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].ID != row.ID {
		t.Fatalf("QueryAudit()=%+v, want the row whose durable commit failed, kept queued", rows)
	}
}

func TestDB_Audit_durableRestoresSynchronous(t *testing.T) {
	ctx := context.Background()
	opts := DefaultOptions()
	opts.CompactEvery = 0
	opts.Logger = slog.New(slog.NewTextHandler(logWriter{t}, nil))
	db, err := Open(filepath.Join(t.TempDir(), "hearth.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Audit(ctx, &AuditRow{Principal: "owner", Action: "unlock", Outcome: "ok"}, true); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil { // the writer is idle once this returns
		t.Fatal(err)
	}
	var sync string
	if err := db.w.conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if got, want := sync, "1"; got != want {
		t.Fatalf("synchronous after a durable commit=%s, want %s (NORMAL)", got, want)
	}
}
