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
