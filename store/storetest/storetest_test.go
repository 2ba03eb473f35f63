package storetest_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/hearth-hub/hearth/store"
	"github.com/hearth-hub/hearth/store/storetest"
)

func TestFillHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	const rows = 10_000
	storetest.FillHistory(t, path, rows)
	storetest.FillHistory(t, path, rows) // appends to what is there

	opts := store.DefaultOptions()
	opts.CompactEvery = 0
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := db.Committed(), uint64(2*rows); got != want {
		t.Fatalf("Committed()=%d, want %d", got, want)
	}
	state, err := db.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(state), storetest.Entities*len(storetest.Attrs); got != want {
		t.Fatalf("LoadState()=%d rows, want %d", got, want)
	}
	total := 0
	for i := range storetest.Entities {
		ss, err := db.History(ctx, store.HistoryQuery{Entity: storetest.Entity(i)})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			total += len(s.Points)
		}
	}
	if got, want := total, 2*rows; got != want {
		t.Fatalf("History() points=%d, want %d", got, want)
	}
	// The store keeps working on top of the filled rows.
	db.Append([]store.Change{{Seq: 2*rows + 1, At: state[0].At, Entity: storetest.Entity(0), Attr: "battery",
		Value: store.Value{Type: store.TypeNumber, Num: 1}}})
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
