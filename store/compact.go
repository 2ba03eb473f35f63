package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hearth-hub/hearth/store/internal/histkey"
)

// compactChunk bounds one compaction transaction, so that a first Compact
// over weeks of history neither holds the batches back for long nor leaves a
// huge WAL behind.
const compactChunk = 20000

// farMs bounds the milliseconds that keys are made of (35,000 years either
// side of 1970), so that shifting them cannot overflow.
const farMs = 1 << 50

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// compact runs on the writer goroutine. Each chunk is its own transaction,
// which deletes exactly the raw rows it folded in, so a crash between chunks
// leaves nothing counted twice and running again finishes the job.
func (db *DB) compact(ctx context.Context) (CompactStats, error) {
	var st CompactStats
	now := db.opts.Now()
	step := db.opts.DownsampleStep.Milliseconds()
	// Only whole buckets are folded, so a bucket is never part raw, part not.
	cut := floorDiv(now.Add(-db.opts.RawRetention).UnixMilli(), step) * step
	cutKey, _ := histkey.Range(max(min(cut, farMs), -farMs))
	for {
		// Changes keep flowing between chunks; a failure here is retried by
		// the ticker and says nothing about compaction.
		_ = db.commit(ctx, nil, nil)
		if db.opts.OnTick != nil {
			db.opts.OnTick()
		}
		var written, folded int64
		err := db.w.inTx(ctx, func() error {
			var err error
			written, folded, err = db.w.downsample(ctx, cutKey, step)
			return err
		})
		if err != nil {
			return st, fmt.Errorf("compact: downsample: %w", err)
		}
		st.Downsampled += written
		st.DeletedRaw += folded
		if folded < compactChunk {
			break
		}
	}
	if db.opts.DownsampledRetention > 0 {
		cut := now.Add(-db.opts.DownsampledRetention).UnixMilli()
		err := db.w.inTx(ctx, func() error {
			// Going through series uses the (series, ts) key for each series
			// instead of scanning the whole table.
			res, err := db.w.conn.ExecContext(ctx,
				"DELETE FROM history_agg WHERE series IN (SELECT id FROM series) AND ts < ?", cut)
			if err == nil {
				st.DeletedDownsampled, err = res.RowsAffected()
			}
			return err
		})
		if err != nil {
			return st, fmt.Errorf("compact: retention: %w", err)
		}
	}
	return st, nil
}

func (w *writer) inTx(ctx context.Context, fn func() error) (err error) {
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	if err := fn(); err != nil {
		return err
	}
	_, err = w.conn.ExecContext(ctx, "COMMIT")
	return err
}

// agg is one downsampled bucket being built.
type agg struct {
	series, ts int64
	n, nn      int64 // values, numeric values
	sum        float64
	min, max   float64
	last       any // float64 or string
}

func (a *agg) add(num sql.NullFloat64, txt sql.NullString) {
	a.n++
	switch {
	case txt.Valid:
		a.last = txt.String
	case num.Valid:
		if a.nn == 0 || num.Float64 < a.min {
			a.min = num.Float64
		}
		if a.nn == 0 || num.Float64 > a.max {
			a.max = num.Float64
		}
		a.nn++
		a.sum += num.Float64
		a.last = num.Float64
	}
}

// downsample folds the oldest raw rows before cutKey, at most compactChunk of
// them, into history_agg and deletes them.
func (w *writer) downsample(ctx context.Context, cutKey, step int64) (written, folded int64, err error) {
	rows, err := w.conn.QueryContext(ctx,
		"SELECT tk, series, num, txt FROM history WHERE tk < ? ORDER BY tk LIMIT ?", cutKey, compactChunk)
	if err != nil {
		return 0, 0, err
	}
	type key struct{ series, ts int64 }
	aggs := map[key]*agg{}
	var order []*agg
	var lastTk int64
	for rows.Next() {
		var tk, series int64
		var num sql.NullFloat64
		var txt sql.NullString
		if err := rows.Scan(&tk, &series, &num, &txt); err != nil {
			rows.Close()
			return 0, 0, err
		}
		k := key{series, floorDiv(histkey.Millis(tk), step) * step}
		a := aggs[k]
		if a == nil {
			a = &agg{series: k.series, ts: k.ts}
			aggs[k] = a
			order = append(order, a)
		}
		a.add(num, txt)
		lastTk = tk
		folded++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	if folded == 0 {
		return 0, 0, nil
	}
	for _, a := range order {
		if err := w.mergeAgg(ctx, a); err != nil {
			return 0, 0, err
		}
		written++
	}
	if _, err := w.conn.ExecContext(ctx, "DELETE FROM history WHERE tk <= ?", lastTk); err != nil {
		return 0, 0, err
	}
	return written, folded, nil
}

// mergeAgg writes a, merged with the bucket's existing row: a bucket is split
// across chunks, or raw rows arrive late for a bucket already folded.
func (w *writer) mergeAgg(ctx context.Context, a *agg) error {
	var n int64
	var mean, lo, hi sql.NullFloat64
	var last any
	err := w.conn.QueryRowContext(ctx,
		"SELECT n, mean, min, max, last FROM history_agg WHERE series = ? AND ts = ?", a.series, a.ts).
		Scan(&n, &mean, &lo, &hi, &last)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return err
	default:
		old := agg{n: n}
		if mean.Valid {
			old.nn = n // a bucket's values share a type, bar a type change
			old.sum = mean.Float64 * float64(n)
			old.min = orMean(lo, mean.Float64)
			old.max = orMean(hi, mean.Float64)
		}
		if a.nn > 0 && old.nn > 0 {
			a.min, a.max = min(a.min, old.min), max(a.max, old.max)
		} else if old.nn > 0 {
			a.min, a.max = old.min, old.max
		}
		a.n += old.n
		a.nn += old.nn
		a.sum += old.sum
		if a.last == nil {
			a.last = lastValue(last, mean)
		}
	}
	var vMean, vMin, vMax, vLast any
	vLast = a.last
	if a.nn > 0 {
		m := a.sum / float64(a.nn)
		vMean = m
		// Equal to the mean is the common case (a value that did not move
		// in the bucket), and NULL costs no bytes.
		if a.min != m {
			vMin = a.min
		}
		if a.max != m {
			vMax = a.max
		}
		if f, ok := a.last.(float64); ok && f == m {
			vLast = nil
		}
	}
	_, err = w.conn.ExecContext(ctx,
		"INSERT OR REPLACE INTO history_agg (series, ts, n, mean, min, max, last) VALUES (?, ?, ?, ?, ?, ?, ?)",
		a.series, a.ts, a.n, vMean, vMin, vMax, vLast)
	return err
}

func orMean(v sql.NullFloat64, mean float64) float64 {
	if v.Valid {
		return v.Float64
	}
	return mean
}

// lastValue decodes history_agg.last: NULL stands for the mean.
func lastValue(last any, mean sql.NullFloat64) any {
	switch v := last.(type) {
	case []byte:
		return string(v)
	case nil:
		if mean.Valid {
			return mean.Float64
		}
	}
	return last
}
