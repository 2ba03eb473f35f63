package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/store"
)

// testOptions are the defaults without the hourly compaction, logging to
// the test.
func testOptions(tb testing.TB) store.Options {
	opts := store.DefaultOptions()
	opts.CompactEvery = 0
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return opts
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", p)
	return len(p), nil
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// MustOpen opens a store and closes it when the test ends.
func MustOpen(tb testing.TB, path string, opts store.Options) *store.DB {
	tb.Helper()
	db, err := store.Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// MustClose closes db and fails on an error.
func MustClose(tb testing.TB, db *store.DB) {
	tb.Helper()
	if err := db.Close(); err != nil {
		tb.Fatalf("Close(): %v", err)
	}
}

// MustFlush commits everything appended so far.
func MustFlush(tb testing.TB, db *store.DB) {
	tb.Helper()
	if err := db.Flush(context.Background()); err != nil {
		tb.Fatalf("Flush(): %v", err)
	}
}

// MustHash returns the sha256 of the file at path.
func MustHash(tb testing.TB, path string) [32]byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	return sha256.Sum256(b)
}

// MustList returns the names in dir, sorted.
func MustList(tb testing.TB, dir string) []string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatalf("read dir %s: %v", dir, err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// MustRawDB opens path with the driver alone, independent of the store.
func MustRawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		tb.Fatalf("sql.Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}

// MustExec runs statements on a raw database.
func MustExec(tb testing.TB, raw *sql.DB, stmts ...string) {
	tb.Helper()
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			tb.Fatalf("exec %q: %v", s, err)
		}
	}
}

// MustWaitFor polls cond until it holds, failing after a generous deadline.
func MustWaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func tempPath(tb testing.TB) string { return filepath.Join(tb.TempDir(), "hearth.db") }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func num(seq uint64, at time.Time, entity, attr string, v float64, unit string) store.Change {
	return store.Change{Seq: seq, At: at, Entity: entity, Attr: attr, Source: "hardware",
		Value: store.Value{Type: store.TypeNumber, Num: v, Unit: unit}}
}

func enum(seq uint64, at time.Time, entity, attr, v string) store.Change {
	return store.Change{Seq: seq, At: at, Entity: entity, Attr: attr, Source: "api",
		Value: store.Value{Type: store.TypeEnum, Text: v}}
}
