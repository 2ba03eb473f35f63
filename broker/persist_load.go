package broker

import (
	"context"
	"fmt"

	"github.com/mochi-mqtt/server/v2/hooks/storage"

	"github.com/hearth-hub/hearth/store"
)

// mochi calls the Stored* methods once, in this order, when the broker
// starts serving. A row that cannot be decoded, or whose session is gone,
// is logged and deleted at the next flush; it does not stop the broker.

// StoredClients implements mqtt.Hook: the persistent sessions whose user
// still exists. A session whose user was removed is dropped with its
// subscriptions and messages.
func (h *PersistHook) StoredClients() ([]storage.Client, error) {
	rows, err := h.load(store.MQTTClient)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []storage.Client
	for _, r := range rows {
		k := rowKey{store.MQTTClient, r.Client, r.Name}
		h.stored[k] = struct{}{}
		var c storage.Client
		if err := c.UnmarshalBinary(r.Value); err != nil || c.ID != r.Client {
			h.Log.Error("mqtt session not restored: bad stored record", "hook", h.ID(), "client", r.Client, "id", c.ID, "err", err)
			h.delLocked(k)
			continue
		}
		name := string(c.Username)
		u, ok, err := h.opts.Users.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("%s: restore session %q: look up user %q: %w", h.ID(), c.ID, name, err)
		}
		if !ok {
			h.Log.Warn("mqtt session dropped: its user no longer exists", "hook", h.ID(), "client", c.ID, "user", name)
			h.delLocked(k)
			continue
		}
		perms, err := PermsFor(u)
		if err != nil {
			h.Log.Error("mqtt session dropped: bad permissions", "hook", h.ID(), "client", c.ID, "user", name, "err", err)
			h.delLocked(k)
			continue
		}
		h.restored[c.ID] = perms
		out = append(out, c)
	}
	return out, nil
}

// StoredSubscriptions implements mqtt.Hook: the restored sessions'
// subscriptions.
func (h *PersistHook) StoredSubscriptions() ([]storage.Subscription, error) {
	return loadKind(h, store.MQTTSub, func(r store.MQTTRow, s *storage.Subscription) bool {
		return s.Client == r.Client && s.Filter == r.Name
	})
}

// StoredInflightMessages implements mqtt.Hook: the restored sessions'
// messages in flight, sent again (DUP) when their client is back.
func (h *PersistHook) StoredInflightMessages() ([]storage.Message, error) {
	return loadKind(h, store.MQTTInflight, func(r store.MQTTRow, m *storage.Message) bool {
		return m.Client == r.Client
	})
}

// StoredRetainedMessages implements mqtt.Hook.
func (h *PersistHook) StoredRetainedMessages() ([]storage.Message, error) {
	return loadKind(h, store.MQTTRetained, func(r store.MQTTRow, m *storage.Message) bool {
		return m.TopicName == r.Name
	})
}

// loadKind decodes the rows of kind that keep accepts; matches says
// whether a decoded record agrees with its row's key.
func loadKind[T any, P interface {
	*T
	storage.Serializable
}](h *PersistHook, kind string, matches func(store.MQTTRow, P) bool) ([]T, error) {
	rows, err := h.load(kind)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []T
	for _, r := range rows {
		var v T
		p := P(&v)
		if h.keep(rowKey{kind, r.Client, r.Name}, r.Value, p, func() bool { return matches(r, p) }) {
			out = append(out, v)
		}
	}
	return out, nil
}

// keep decodes a loaded row into v. It records the row as stored and, when
// the row is bad (cannot be decoded, or matches says its fields disagree
// with its key) or belongs to a session that was not restored, schedules
// its delete and returns false.
func (h *PersistHook) keep(k rowKey, value []byte, v storage.Serializable, matches func() bool) bool {
	h.stored[k] = struct{}{}
	if k.kind != store.MQTTRetained && h.offline[k.client] == nil {
		h.delLocked(k) // its session was dropped
		return false
	}
	err := v.UnmarshalBinary(value)
	if err == nil && !matches() {
		err = fmt.Errorf("the record does not match its key")
	}
	if err != nil {
		h.Log.Error("mqtt state not restored: bad stored record", "hook", h.ID(), "kind", k.kind, "client", k.client, "name", k.name, "err", err)
		h.delLocked(k)
		return false
	}
	return true
}

func (h *PersistHook) load(kind string) ([]store.MQTTRow, error) {
	ctx, cancel := context.WithTimeout(context.Background(), persistFlushTimeout)
	defer cancel()
	rows, err := h.opts.Store.LoadMQTT(ctx, kind)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.ID(), err)
	}
	return rows, nil
}
