package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// PutKV stores value under key, committed (with whatever is pending)
// before it returns.
func (db *DB) PutKV(ctx context.Context, key, value string) error {
	_, err := db.call(ctx, request{kind: reqPutKV, key: key, value: value})
	return err
}

// GetKV returns the value stored under key, and whether there is one.
func (db *DB) GetKV(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.rdb.QueryRowContext(ctx, "SELECT value FROM kv WHERE key = ?", key).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("get %q: %w", key, err)
	}
	return v, true, nil
}

func (db *DB) putKV(ctx context.Context, c *sql.Conn, key, value string) error {
	_, err := c.ExecContext(ctx,
		"INSERT INTO kv(key, value, updated) VALUES(?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
		key, value, db.opts.Now().UnixMilli())
	return err
}

// DeleteKV removes key, committed before it returns. A missing key is not
// an error.
func (db *DB) DeleteKV(ctx context.Context, key string) error {
	_, err := db.call(ctx, request{kind: reqDeleteKV, key: key})
	return err
}

// ListKV returns every key that starts with prefix and its value, sorted
// by key.
func (db *DB) ListKV(ctx context.Context, prefix string) ([][2]string, error) {
	rows, err := db.rdb.QueryContext(ctx, "SELECT key, value FROM kv WHERE substr(key, 1, length(?)) = ? ORDER BY key", prefix, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var kv [2]string
		if err := rows.Scan(&kv[0], &kv[1]); err != nil {
			return nil, err
		}
		out = append(out, kv)
	}
	return out, rows.Err()
}
