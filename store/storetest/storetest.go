// Package storetest builds stores for tests and benchmarks elsewhere in
// Hearth, such as a store with a million rows of history for the daemon's
// start-up benchmark.
package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/store"
	"github.com/hearth-hub/hearth/store/internal/histkey"
)

// Entities and Attrs are the series FillHistory writes: Entities sensors,
// each with these numeric attributes.
const Entities = 50

// Attrs are each filled entity's attributes and their units.
var Attrs = [...][2]string{{"temperature", "°C"}, {"humidity", "%"}, {"battery", "%"}}

// Entity returns the name of the i-th filled entity.
func Entity(i int) string { return fmt.Sprintf("sensor.fill_%02d", i) }

// FillHistory appends rows history rows to the store at path (creating it if
// needed; it must not be open), round-robin over Entities x Attrs, 100ms
// apart and ending now, and sets their state and the committed sequence
// number to match. It writes directly with large transactions, about a
// million rows in a few seconds, rather than through the group commit.
func FillHistory(tb testing.TB, path string, rows int) {
	tb.Helper()
	opts := store.DefaultOptions()
	opts.CompactEvery = 0
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(path, opts) // creates and migrates
	if err != nil {
		tb.Fatalf("FillHistory: %v", err)
	}
	seq := db.Committed()
	if err := db.Close(); err != nil {
		tb.Fatalf("FillHistory: %v", err)
	}
	if err := fill(path, rows, seq); err != nil {
		tb.Fatalf("FillHistory %s: %v", path, err)
	}
}

func fill(path string, rows int, seq uint64) (err error) {
	ctx := context.Background()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	conn, err := raw.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
		}
	}()

	nseries := Entities * len(Attrs)
	ids := make([]int64, nseries)
	for i := range ids {
		e, a := Entity(i/len(Attrs)), Attrs[i%len(Attrs)]
		err := conn.QueryRowContext(ctx, `INSERT INTO series (entity, attr, type, unit) VALUES (?, ?, 'number', ?)
			ON CONFLICT (entity, attr) DO UPDATE SET type = excluded.type RETURNING id`, e, a[0], a[1]).Scan(&ids[i])
		if err != nil {
			return fmt.Errorf("series: %w", err)
		}
	}
	var last sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT max(tk) FROM history").Scan(&last); err != nil {
		return err
	}
	const gap = 100 // milliseconds between rows
	start := time.Now().UnixMilli() - int64(rows)*gap
	if last.Valid {
		start = max(start, histkey.Millis(last.Int64)+1)
	}

	const perStmt = 200
	ins, err := conn.PrepareContext(ctx, "INSERT INTO history (tk, series, num) VALUES "+
		strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", perStmt), ", "))
	if err != nil {
		return err
	}
	defer ins.Close()
	value := func(i int) float64 {
		return math.Round((20+5*math.Sin(float64(i)/5000)+float64(i%nseries)/10)*100) / 100
	}
	args := make([]any, 0, 3*perStmt)
	for i := 0; i < rows; i++ {
		args = append(args, histkey.Make(start+int64(i)*gap, 0), ids[i%nseries], value(i))
		if len(args) == cap(args) {
			if _, err := ins.ExecContext(ctx, args...); err != nil {
				return err
			}
			args = args[:0]
		}
	}
	for i := 0; i < len(args); i += 3 {
		if _, err := conn.ExecContext(ctx, "INSERT INTO history (tk, series, num) VALUES (?, ?, ?)",
			args[i], args[i+1], args[i+2]); err != nil {
			return err
		}
	}
	for j := max(0, rows-nseries); j < rows; j++ {
		_, err := conn.ExecContext(ctx, `INSERT OR REPLACE INTO state (series, num, txt, seq, ts, source)
			VALUES (?, ?, NULL, ?, ?, 'fill')`, ids[j%nseries], value(j), int64(seq)+int64(j)+1,
			time.UnixMilli(start+int64(j)*gap).UnixNano())
		if err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, "UPDATE meta SET value = ? WHERE key = 'committed_seq'",
		int64(seq)+int64(rows)); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}
