package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math"

	"github.com/hearth-hub/hearth/store/internal/histkey"
)

// writer is the SQLite side of the group commit: one connection, its
// prepared statements, and the caches that must agree with what is committed.
// Only the writer goroutine uses it (and Open and Close, before and after).
type writer struct {
	conn *sql.Conn
	log  *slog.Logger

	insHistory, upsState, setSeq, upsAudit *sql.Stmt
	insSeries, updSeries, maxKey           *sql.Stmt

	series  map[seriesKey]*seriesInfo
	lastKey int64         // largest history key written
	back    int64         // last key handed out below lastKey's millisecond
	latest  map[int64]int // per batch: series id -> index of its latest change
	undo    []func()      // per batch: how to forget cache updates if it rolls back
}

type seriesKey struct{ entity, attr string }

type seriesInfo struct {
	id        int64
	typ, unit string
}

func (w *writer) prepare(ctx context.Context) error {
	for _, p := range []struct {
		s   **sql.Stmt
		sql string
	}{
		{&w.insHistory, "INSERT INTO history (tk, series, num, txt) VALUES (?, ?, ?, ?)"},
		{&w.upsState, `INSERT INTO state (series, num, txt, seq, ts, source) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (series) DO UPDATE SET num = excluded.num, txt = excluded.txt,
			seq = excluded.seq, ts = excluded.ts, source = excluded.source`},
		{&w.setSeq, "UPDATE meta SET value = ? WHERE key = 'committed_seq'"},
		{&w.upsAudit, `INSERT INTO audit (id, at, principal, source, entity, action, args, outcome, error, duration, critical)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET at = excluded.at, principal = excluded.principal,
			source = excluded.source, entity = excluded.entity, action = excluded.action, args = excluded.args,
			outcome = excluded.outcome, error = excluded.error, duration = excluded.duration, critical = excluded.critical`},
		{&w.insSeries, "INSERT INTO series (entity, attr, type, unit) VALUES (?, ?, ?, ?)"},
		{&w.updSeries, "UPDATE series SET type = ?, unit = ? WHERE id = ?"},
		{&w.maxKey, "SELECT max(tk) FROM history WHERE tk BETWEEN ? AND ?"},
	} {
		s, err := w.conn.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.s = s
	}
	w.series = map[seriesKey]*seriesInfo{}
	w.latest = map[int64]int{}
	rows, err := w.conn.QueryContext(ctx, "SELECT id, entity, attr, type, unit FROM series")
	if err != nil {
		return fmt.Errorf("load series: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k seriesKey
		s := &seriesInfo{}
		if err := rows.Scan(&s.id, &k.entity, &k.attr, &s.typ, &s.unit); err != nil {
			return fmt.Errorf("load series: %w", err)
		}
		w.series[k] = s
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load series: %w", err)
	}
	var last sql.NullInt64
	if err := w.conn.QueryRowContext(ctx, "SELECT max(tk) FROM history").Scan(&last); err != nil {
		return fmt.Errorf("load history key: %w", err)
	}
	w.lastKey, w.back = math.MinInt64, math.MinInt64
	if last.Valid {
		w.lastKey = last.Int64
	}
	return nil
}

func (w *writer) close() error {
	var err error
	for _, s := range []*sql.Stmt{w.insHistory, w.upsState, w.setSeq, w.upsAudit, w.insSeries, w.updSeries, w.maxKey} {
		if s != nil {
			if e := s.Close(); err == nil {
				err = e
			}
		}
	}
	if w.conn != nil {
		if e := w.conn.Close(); err == nil {
			err = e
		}
	}
	return err
}

// checkpoint copies the WAL into the file and truncates it, so a closed
// store is one self-contained file.
func (w *writer) checkpoint() error {
	var busy, logPages, done int
	err := w.conn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint: blocked, %d of %d WAL pages copied", done, logPages)
	}
	return nil
}

// batch is one transaction's worth of work.
type batch struct {
	changes   []Change
	audits    []AuditRow
	durable   bool                                         // commit with synchronous=FULL
	after     func(ctx context.Context, c *sql.Conn) error // more work in the same transaction
	committed uint64                                       // Committed() before this batch
}

// write commits b in one transaction and returns the highest Seq in it. On
// error nothing of b is committed and the caches are as before.
func (w *writer) write(ctx context.Context, b *batch) (maxSeq uint64, err error) {
	if b.durable {
		if _, err := w.conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
			return 0, fmt.Errorf("synchronous=FULL: %w", err)
		}
		defer func() {
			if _, e := w.conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); e != nil {
				// The batch is committed; later commits are only slower.
				w.log.Error("restore synchronous=NORMAL", "err", e)
			}
		}()
	}
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	lastKey := w.lastKey
	w.undo = w.undo[:0]
	defer func() {
		if err != nil {
			// COMMIT may have failed after SQLite rolled back by itself, so
			// the error from ROLLBACK says nothing new.
			_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
			w.lastKey = lastKey
			for i := len(w.undo) - 1; i >= 0; i-- {
				w.undo[i]()
			}
		}
		w.undo = w.undo[:0]
	}()

	clear(w.latest)
	for i := range b.changes {
		c := &b.changes[i]
		id, err := w.seriesID(ctx, c)
		if err != nil {
			return 0, err
		}
		key, err := w.key(ctx, c.At.UnixMilli())
		if err != nil {
			return 0, err
		}
		num, txt := columns(c.Value)
		if _, err := w.insHistory.ExecContext(ctx, key, id, num, txt); err != nil {
			return 0, fmt.Errorf("insert history: %w", err)
		}
		w.latest[id] = i
		maxSeq = max(maxSeq, c.Seq)
	}
	// State is written once per attribute per batch, not once per change.
	var stateMax uint64
	for id, i := range w.latest {
		c := &b.changes[i]
		num, txt := columns(c.Value)
		if _, err := w.upsState.ExecContext(ctx, id, num, txt, int64(c.Seq), c.At.UnixNano(), c.Source); err != nil {
			return 0, fmt.Errorf("upsert state: %w", err)
		}
		stateMax = max(stateMax, c.Seq)
	}
	// Committed() is read back at Open as max(meta's committed_seq, the
	// highest seq in state). Usually the batch's newest change carries the
	// new maximum into state, and meta's page need not be written: that page
	// is a quarter of what a small commit writes.
	committed := max(b.committed, maxSeq)
	metaStale := len(b.changes) > 0 && stateMax < committed
	for i := range b.audits {
		a := &b.audits[i]
		if _, err := w.upsAudit.ExecContext(ctx, a.ID, a.At.UnixNano(), a.Principal, a.Source, a.Entity,
			a.Action, a.Args, a.Outcome, a.Error, int64(a.Duration), a.Critical); err != nil {
			return 0, fmt.Errorf("write audit row %d: %w", a.ID, err)
		}
	}
	if b.after != nil {
		if err := b.after(ctx, w.conn); err != nil {
			return 0, err
		}
		metaStale = true // it may have deleted state rows
	}
	if metaStale {
		if _, err := w.setSeq.ExecContext(ctx, int64(committed)); err != nil {
			return 0, fmt.Errorf("update committed seq: %w", err)
		}
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return maxSeq, nil
}

// columns says where a value is kept: numbers and bools in num, the rest as
// text. An unknown type keeps whichever field is set.
func columns(v Value) (num, txt any) {
	switch {
	case numeric(v.Type):
		return v.Num, nil
	case v.Type == TypeEnum || v.Type == TypeString || v.Type == TypeTime || v.Text != "":
		return nil, v.Text
	default:
		return v.Num, nil
	}
}

// seriesID returns the series of c's attribute, creating it or updating its
// type and unit inside the current transaction.
func (w *writer) seriesID(ctx context.Context, c *Change) (int64, error) {
	k := seriesKey{c.Entity, c.Attr}
	s, ok := w.series[k]
	if ok && s.typ == c.Value.Type && s.unit == c.Value.Unit {
		return s.id, nil
	}
	if ok {
		if _, err := w.updSeries.ExecContext(ctx, c.Value.Type, c.Value.Unit, s.id); err != nil {
			return 0, fmt.Errorf("update series %s %s: %w", c.Entity, c.Attr, err)
		}
		old := *s
		w.undo = append(w.undo, func() { *s = old })
		w.log.Info("attribute changed type or unit", "entity", c.Entity, "attr", c.Attr,
			"type", c.Value.Type, "unit", c.Value.Unit, "was_type", s.typ, "was_unit", s.unit)
		s.typ, s.unit = c.Value.Type, c.Value.Unit
		return s.id, nil
	}
	res, err := w.insSeries.ExecContext(ctx, c.Entity, c.Attr, c.Value.Type, c.Value.Unit)
	if err != nil {
		return 0, fmt.Errorf("insert series %s %s: %w", c.Entity, c.Attr, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	w.series[k] = &seriesInfo{id: id, typ: c.Value.Type, unit: c.Value.Unit}
	w.undo = append(w.undo, func() { delete(w.series, k) })
	return id, nil
}

// key returns a free history key for millisecond ms. Keys normally grow with
// time and are handed out from memory. When the clock has gone back (a VM's
// clock steps back a millisecond now and then; a Pi without an RTC sets its
// time at boot) the table is asked for a free key in that millisecond, and
// the next ones there are counted on from it. More than 4096 values in one
// millisecond spill into the next.
func (w *writer) key(ctx context.Context, ms int64) (int64, error) {
	ms = max(min(ms, farMs), -farMs)
	for {
		lo, hi := histkey.Range(ms)
		switch {
		case lo > w.lastKey:
			w.lastKey = lo
			return lo, nil
		case histkey.Millis(w.lastKey) == ms && w.lastKey < hi:
			w.lastKey++
			return w.lastKey, nil
		case histkey.Millis(w.lastKey) > ms:
			// Keys above back in its millisecond are free: it was the
			// highest used when asked, and only this writer inserts.
			if histkey.Millis(w.back) == ms && w.back < hi {
				w.back++
				return w.back, nil
			}
			var used sql.NullInt64
			if err := w.maxKey.QueryRowContext(ctx, lo, hi).Scan(&used); err != nil {
				return 0, fmt.Errorf("find history key: %w", err)
			}
			switch {
			case !used.Valid:
				w.back = lo
				return lo, nil
			case used.Int64 < hi:
				w.back = used.Int64 + 1
				return w.back, nil
			}
		}
		ms++
	}
}
