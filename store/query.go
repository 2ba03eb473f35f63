package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// LoadState returns the latest committed value of every attribute, with its
// Seq, At and Source, sorted by entity then attribute.
func (db *DB) LoadState(ctx context.Context) ([]Change, error) {
	rows, err := db.rdb.QueryContext(ctx, `SELECT s.entity, s.attr, s.type, s.unit, st.num, st.txt, st.seq, st.ts, st.source
		FROM state st JOIN series s ON s.id = st.series ORDER BY s.entity, s.attr`)
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		var num sql.NullFloat64
		var txt sql.NullString
		var seq, ts int64
		if err := rows.Scan(&c.Entity, &c.Attr, &c.Value.Type, &c.Value.Unit, &num, &txt, &seq, &ts, &c.Source); err != nil {
			return nil, fmt.Errorf("load state: %w", err)
		}
		c.Value.Num, c.Value.Text = num.Float64, txt.String
		c.Seq, c.At = uint64(seq), time.Unix(0, ts).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	return out, nil
}

// QueryAudit returns committed audit rows, newest first.
func (db *DB) QueryAudit(ctx context.Context, q AuditQuery) ([]AuditRow, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if q.Entity != "" {
		add("entity = ?", q.Entity)
	}
	if q.Principal != "" {
		add("principal = ?", q.Principal)
	}
	if !q.Since.IsZero() {
		add("at >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		add("at <= ?", q.Until.UnixNano())
	}
	if q.BeforeID > 0 {
		add("id < ?", q.BeforeID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	query := "SELECT id, at, principal, source, entity, action, args, outcome, error, duration, critical FROM audit"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.rdb.QueryContext(ctx, query+" ORDER BY id DESC LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	defer rows.Close()
	var out []AuditRow
	for rows.Next() {
		var r AuditRow
		var at, dur int64
		if err := rows.Scan(&r.ID, &at, &r.Principal, &r.Source, &r.Entity, &r.Action, &r.Args,
			&r.Outcome, &r.Error, &dur, &r.Critical); err != nil {
			return nil, fmt.Errorf("query audit: %w", err)
		}
		r.At, r.Duration = time.Unix(0, at).UTC(), time.Duration(dur)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	return out, nil
}
