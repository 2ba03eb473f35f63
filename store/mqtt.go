package store

import (
	"context"
	"database/sql"
	"fmt"
)

// The kinds of MQTT broker rows.
const (
	MQTTClient   = "client"   // a persistent session; Name is ""
	MQTTSub      = "sub"      // a session's subscription; Name is the topic filter
	MQTTInflight = "inflight" // a session's QoS 1/2 message in flight; Name is the packet id
	MQTTRetained = "retained" // a retained message; Client is "", Name is the topic
)

func validMQTTKind(kind string) bool {
	switch kind {
	case MQTTClient, MQTTSub, MQTTInflight, MQTTRetained:
		return true
	}
	return false
}

// MQTTOp is one change to the broker's persistent state: a put of Value
// under (Kind, Client, Name), or with Delete its removal.
type MQTTOp struct {
	Kind   string
	Client string
	Name   string
	Value  []byte // the broker's encoding; ignored with Delete
	Delete bool
}

// MQTTRow is one stored row of a kind.
type MQTTRow struct {
	Client string
	Name   string
	Value  []byte
}

// ApplyMQTT writes ops in one transaction, in order, together with
// whatever else is pending, and returns once it is committed. Deleting a
// missing row is not an error. An op of an unknown kind fails the whole
// call before anything is written.
func (db *DB) ApplyMQTT(ctx context.Context, ops []MQTTOp) error {
	if len(ops) == 0 {
		return nil
	}
	for i, op := range ops {
		if !validMQTTKind(op.Kind) {
			return fmt.Errorf("apply mqtt: op %d (client %q, name %q): unknown kind %q", i, op.Client, op.Name, op.Kind)
		}
		if !op.Delete && op.Value == nil {
			return fmt.Errorf("apply mqtt: op %d (%s, client %q, name %q): put without a value", i, op.Kind, op.Client, op.Name)
		}
	}
	_, err := db.call(ctx, request{kind: reqExec, exec: func(ctx context.Context, c *sql.Conn) error {
		return applyMQTT(ctx, c, ops)
	}})
	if err != nil {
		return fmt.Errorf("apply mqtt: %w", err)
	}
	return nil
}

func applyMQTT(ctx context.Context, c *sql.Conn, ops []MQTTOp) error {
	put, err := c.PrepareContext(ctx,
		"INSERT INTO mqtt(kind, client, name, value) VALUES(?, ?, ?, ?) ON CONFLICT(kind, client, name) DO UPDATE SET value = excluded.value")
	if err != nil {
		return err
	}
	defer put.Close()
	del, err := c.PrepareContext(ctx, "DELETE FROM mqtt WHERE kind = ? AND client = ? AND name = ?")
	if err != nil {
		return err
	}
	defer del.Close()
	for _, op := range ops {
		if op.Delete {
			_, err = del.ExecContext(ctx, op.Kind, op.Client, op.Name)
		} else {
			_, err = put.ExecContext(ctx, op.Kind, op.Client, op.Name, op.Value)
		}
		if err != nil {
			return fmt.Errorf("%s client %q name %q: %w", op.Kind, op.Client, op.Name, err)
		}
	}
	return nil
}

// LoadMQTT returns every committed row of kind, sorted by client and name.
func (db *DB) LoadMQTT(ctx context.Context, kind string) ([]MQTTRow, error) {
	if !validMQTTKind(kind) {
		return nil, fmt.Errorf("load mqtt: unknown kind %q", kind)
	}
	rows, err := db.rdb.QueryContext(ctx, "SELECT client, name, value FROM mqtt WHERE kind = ? ORDER BY client, name", kind)
	if err != nil {
		return nil, fmt.Errorf("load mqtt %s: %w", kind, err)
	}
	defer rows.Close()
	var out []MQTTRow
	for rows.Next() {
		var r MQTTRow
		if err := rows.Scan(&r.Client, &r.Name, &r.Value); err != nil {
			return nil, fmt.Errorf("load mqtt %s: %w", kind, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load mqtt %s: %w", kind, err)
	}
	return out, nil
}
