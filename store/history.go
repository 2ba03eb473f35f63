package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hearth-hub/hearth/store/internal/histkey"
)

// hseries is one series being read.
type hseries struct {
	id              int64
	attr, typ, unit string
	points          []Point
	buckets         map[int64]*bucket // Step > 0
}

// History returns the history of an entity's attributes (or one of them).
//
// With Step 0 it returns raw points inside [From, To], plus the downsampled
// buckets starting inside [From, To] for the part of the range that is only
// kept downsampled. With Step > 0 (at least 1s) numeric and bool series are
// bucketed into Step-wide buckets aligned to the Unix epoch (mean weighted by
// count, min, max, count) over raw and downsampled rows alike; enum, string
// and time series keep the last value in each bucket. Points are sorted by
// time; each series keeps its earliest Limit points.
func (db *DB) History(ctx context.Context, q HistoryQuery) ([]Series, error) {
	switch {
	case q.Entity == "":
		return nil, errors.New("history: no entity")
	case q.Step < 0 || q.Step > 0 && q.Step < time.Second:
		return nil, fmt.Errorf("history: step %v, want 0 or >= 1s", q.Step)
	case q.Limit < 0:
		return nil, fmt.Errorf("history: limit %d", q.Limit)
	}
	limit := q.Limit
	if limit == 0 {
		limit = 10000
	}
	lo, hi := int64(-farMs), int64(farMs)
	if !q.From.IsZero() {
		lo = q.From.UnixMilli()
		if time.UnixMilli(lo).Before(q.From) {
			lo++
		}
	}
	if !q.To.IsZero() {
		hi = q.To.UnixMilli()
		if time.UnixMilli(hi).After(q.To) {
			hi--
		}
	}
	lo, hi = max(lo, -farMs), min(hi, farMs)

	// One read transaction, so a Compact cannot move rows between the raw
	// and the downsampled query.
	tx, err := db.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer tx.Rollback()
	ss, err := loadSeries(ctx, tx, q.Entity, q.Attr)
	if err != nil || len(ss) == 0 || lo > hi {
		return nil, err
	}
	if q.Step == 0 {
		err = rawHistory(ctx, tx, ss, lo, hi, limit)
	} else {
		err = bucketHistory(ctx, tx, ss, lo, hi, q.Step.Milliseconds(), limit)
	}
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", q.Entity, err)
	}
	out := make([]Series, len(ss))
	for i, s := range ss {
		out[i] = Series{Entity: q.Entity, Attr: s.attr, Type: s.typ, Unit: s.unit, Points: s.points}
	}
	return out, nil
}

func loadSeries(ctx context.Context, tx *sql.Tx, entity, attr string) ([]*hseries, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, attr, type, unit FROM series
		WHERE entity = ? AND (? = '' OR attr = ?) ORDER BY attr`, entity, attr, attr)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var ss []*hseries
	for rows.Next() {
		s := &hseries{}
		if err := rows.Scan(&s.id, &s.attr, &s.typ, &s.unit); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		ss = append(ss, s)
	}
	return ss, rows.Err()
}

// inList returns "?, ?, ?" and the ids of ss.
func inList(ss []*hseries) (string, []any) {
	args := make([]any, len(ss))
	for i, s := range ss {
		args[i] = s.id
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(ss)), ", "), args
}

func byID(ss []*hseries) map[int64]*hseries {
	m := make(map[int64]*hseries, len(ss))
	for _, s := range ss {
		m[s.id] = s
	}
	return m
}

func millisTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func rawHistory(ctx context.Context, tx *sql.Tx, ss []*hseries, lo, hi int64, limit int) error {
	// Downsampled buckets are older than any raw row of their series, as raw
	// rows are deleted when they are folded, so they go first.
	for _, s := range ss {
		rows, err := tx.QueryContext(ctx, `SELECT ts, n, mean, min, max, last FROM history_agg
			WHERE series = ? AND ts BETWEEN ? AND ? ORDER BY ts LIMIT ?`, s.id, lo, hi, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var ts, n int64
			var mean, mn, mx sql.NullFloat64
			var last any
			if err := rows.Scan(&ts, &n, &mean, &mn, &mx, &last); err != nil {
				rows.Close()
				return err
			}
			p := Point{At: millisTime(ts), Value: Value{Type: s.typ, Unit: s.unit}, Count: int(n)}
			if numeric(s.typ) {
				p.Value.Num = mean.Float64
				p.Min, p.Max = orMean(mn, mean.Float64), orMean(mx, mean.Float64)
			} else {
				p.Value.Text = textOf(lastValue(last, mean))
			}
			s.points = append(s.points, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}

	// One pass over the time range for all series, as rows are stored in
	// time order, not by series.
	in, args := inList(ss)
	klo, _ := histkey.Range(lo)
	_, khi := histkey.Range(hi)
	rows, err := tx.QueryContext(ctx, `SELECT tk, series, num, txt FROM history
		WHERE tk BETWEEN ? AND ? AND series IN (`+in+`) ORDER BY tk`, append([]any{klo, khi}, args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	ids := byID(ss)
	raw := make(map[int64]int, len(ss))
	full := 0
	for full < len(ss) && rows.Next() {
		var tk, id int64
		var num sql.NullFloat64
		var txt sql.NullString
		if err := rows.Scan(&tk, &id, &num, &txt); err != nil {
			return err
		}
		s := ids[id]
		if raw[id] == limit {
			continue
		}
		s.points = append(s.points, Point{
			At:    millisTime(histkey.Millis(tk)),
			Value: Value{Type: s.typ, Unit: s.unit, Num: num.Float64, Text: txt.String},
			Count: 1,
		})
		if raw[id]++; raw[id] == limit {
			full++
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, s := range ss {
		slices.SortStableFunc(s.points, func(a, b Point) int { return a.At.Compare(b.At) })
		if len(s.points) > limit {
			s.points = s.points[:limit]
		}
	}
	return nil
}

func textOf(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// bucket is one Step-wide bucket being built.
type bucket struct {
	n        int64
	sum      float64
	min, max float64
	last     string
	lastMs   int64
}

func (s *hseries) bucket(b int64) *bucket {
	if s.buckets == nil {
		s.buckets = map[int64]*bucket{}
	}
	k := s.buckets[b]
	if k == nil {
		k = &bucket{min: math.Inf(1), max: math.Inf(-1), lastMs: math.MinInt64}
		s.buckets[b] = k
	}
	return k
}

func (k *bucket) addNum(n int64, mean, lo, hi float64) {
	k.n += n
	k.sum += mean * float64(n)
	k.min, k.max = min(k.min, lo), max(k.max, hi)
}

func (k *bucket) addText(n int64, last string, ms int64) {
	k.n += n
	if ms >= k.lastMs {
		k.last, k.lastMs = last, ms
	}
}

// bucketExpr is the start of a row's Step bucket in milliseconds, floored for
// times before 1970 too (SQLite's % keeps the dividend's sign).
const bucketExpr = "((tk >> 12) - (((tk >> 12) % ?) + ?) % ?)"

func bucketHistory(ctx context.Context, tx *sql.Tx, ss []*hseries, lo, hi, step int64, limit int) error {
	ids := byID(ss)
	var nums, texts []*hseries
	for _, s := range ss {
		if numeric(s.typ) {
			nums = append(nums, s)
		} else {
			texts = append(texts, s)
		}
	}
	klo, _ := histkey.Range(lo)
	_, khi := histkey.Range(hi)
	// SQLite does the grouping of raw rows: Go would have to scan them all.
	if len(nums) > 0 {
		in, args := inList(nums)
		err := scanRows(ctx, tx, `SELECT series, b, sum(num), min(num), max(num), count(num) FROM (
			SELECT series, num, `+bucketExpr+` AS b FROM history
			WHERE tk BETWEEN ? AND ? AND series IN (`+in+`) AND num IS NOT NULL) GROUP BY series, b`,
			append([]any{step, step, step, klo, khi}, args...), func(rows *sql.Rows) error {
				var id, b, n int64
				var sum, lo, hi float64
				if err := rows.Scan(&id, &b, &sum, &lo, &hi, &n); err != nil {
					return err
				}
				ids[id].bucket(b).addNum(n, sum/float64(n), lo, hi)
				return nil
			})
		if err != nil {
			return err
		}
	}
	if len(texts) > 0 {
		// With a single max(), SQLite takes the bare txt from that row.
		in, args := inList(texts)
		err := scanRows(ctx, tx, `SELECT series, b, txt, max(tk), count(*) FROM (
			SELECT series, txt, tk, `+bucketExpr+` AS b FROM history
			WHERE tk BETWEEN ? AND ? AND series IN (`+in+`) AND txt IS NOT NULL) GROUP BY series, b`,
			append([]any{step, step, step, klo, khi}, args...), func(rows *sql.Rows) error {
				var id, b, tk, n int64
				var txt string
				if err := rows.Scan(&id, &b, &txt, &tk, &n); err != nil {
					return err
				}
				ids[id].bucket(b).addText(n, txt, histkey.Millis(tk))
				return nil
			})
		if err != nil {
			return err
		}
	}
	in, args := inList(ss)
	err := scanRows(ctx, tx, `SELECT series, ts, n, mean, min, max, last FROM history_agg
		WHERE series IN (`+in+`) AND ts BETWEEN ? AND ?`, append(args, lo, hi), func(rows *sql.Rows) error {
		var id, ts, n int64
		var mean, mn, mx sql.NullFloat64
		var last any
		if err := rows.Scan(&id, &ts, &n, &mean, &mn, &mx, &last); err != nil {
			return err
		}
		s := ids[id]
		b := floorDiv(ts, step) * step
		if numeric(s.typ) {
			if mean.Valid {
				s.bucket(b).addNum(n, mean.Float64, orMean(mn, mean.Float64), orMean(mx, mean.Float64))
			}
		} else {
			s.bucket(b).addText(n, textOf(lastValue(last, mean)), ts)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, s := range ss {
		starts := make([]int64, 0, len(s.buckets))
		for b := range s.buckets {
			starts = append(starts, b)
		}
		slices.Sort(starts)
		if len(starts) > limit {
			starts = starts[:limit]
		}
		for _, b := range starts {
			k := s.buckets[b]
			p := Point{At: millisTime(b), Value: Value{Type: s.typ, Unit: s.unit}, Count: int(k.n)}
			if numeric(s.typ) {
				p.Value.Num, p.Min, p.Max = k.sum/float64(k.n), k.min, k.max
			} else {
				p.Value.Text = k.last
			}
			s.points = append(s.points, p)
		}
		s.buckets = nil
	}
	return nil
}

func scanRows(ctx context.Context, tx *sql.Tx, query string, args []any, each func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
