package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/hub"
	"github.com/hearth-hub/hearth/store"
)

// recorder carries the hub's events into the store. It is the store's bus
// subscriber: it drains its queue in batches and hands them to the store's
// group-commit writer. If the queue ever overflowed (the store stalled for
// longer than the queue lasts), the lost history cannot be recovered, but
// the current state can: the recorder then writes every entity's state
// again so that nothing the hub holds is missing after a restart.
type recorder struct {
	hub  *hub.Hub
	db   *store.DB
	sub  *hub.Subscription
	log  *slog.Logger
	beat *hub.Beat
	buf  []store.Change

	// appended is the highest event seq handed to the store; moved is
	// closed and replaced each time it grows.
	mu       sync.Mutex
	appended uint64
	moved    chan struct{}
}

func newRecorder(h *hub.Hub, db *store.DB, queue int, log *slog.Logger) *recorder {
	return &recorder{
		hub: h, db: db, log: log,
		sub:   h.Bus().Subscribe("store", queue, nil),
		beat:  h.Liveness().Register("store-recorder", time.Second),
		moved: make(chan struct{}),
	}
}

// waitAppended returns once every event up to seq is in the store's hands
// (pending or committed), so that a Flush after it commits them.
func (r *recorder) waitAppended(ctx context.Context, seq uint64) error {
	for {
		r.mu.Lock()
		done, moved := r.appended >= seq, r.moved
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *recorder) markAppended(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq > r.appended {
		r.appended = seq
		close(r.moved)
		r.moved = make(chan struct{})
	}
}

// run drains until ctx ends, then drains once more so that every event
// published before the end reaches the store.
func (r *recorder) run(ctx context.Context) {
	defer r.beat.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	var events []hub.Event
	for {
		select {
		case <-ctx.Done():
			r.sub.Close()
			r.drain(events)
			return
		case <-r.sub.Ready():
			events = r.drain(events)
		case <-t.C:
		}
		r.beat.Tick()
	}
}

func (r *recorder) drain(buf []hub.Event) []hub.Event {
	events, dropped := r.sub.Drain(buf)
	r.buf = r.buf[:0]
	for i := range events {
		r.buf = appendChanges(r.buf, &events[i])
	}
	if len(r.buf) > 0 {
		r.db.Append(r.buf)
	}
	if dropped > 0 {
		r.log.Error("history events lost: the store fell behind and its queue overflowed; writing the current state again",
			"dropped", dropped)
		r.resync()
	}
	if n := len(events); n > 0 {
		r.markAppended(events[n-1].Seq)
	}
	return events
}

// resync writes every entity's current state, so that the state table is
// right even though some history is missing.
func (r *recorder) resync() {
	seq := r.hub.Seq()
	now := time.Now()
	r.buf = r.buf[:0]
	for _, s := range r.hub.Entities() {
		for attr, v := range s.Attrs {
			r.buf = append(r.buf, store.Change{Seq: seq, At: now, Entity: string(s.ID), Attr: attr, Value: toStoreValue(v), Source: "resync"})
		}
	}
	r.db.Append(r.buf)
	r.markAppended(seq)
}

func appendChanges(dst []store.Change, ev *hub.Event) []store.Change {
	for _, c := range ev.Changes {
		if !c.New.Valid() {
			continue
		}
		dst = append(dst, store.Change{
			Seq: ev.Seq, At: ev.At, Entity: string(ev.Entity), Attr: c.Attr,
			Value: toStoreValue(c.New), Source: ev.Source,
		})
	}
	return dst
}

func toStoreValue(v hub.Value) store.Value {
	sv := store.Value{Type: v.Type().String()}
	switch v.Type() {
	case hub.TypeNumber:
		sv.Num, _ = v.Float()
		sv.Unit = v.Unit()
	case hub.TypeBool:
		sv.Num, _ = v.Float()
	case hub.TypeEnum, hub.TypeString:
		sv.Text = v.Text()
	case hub.TypeTime:
		sv.Text = v.TimeValue().Format(time.RFC3339Nano)
	}
	return sv
}

func fromStoreValue(sv store.Value) (hub.Value, bool) {
	t, err := hub.ParseType(sv.Type)
	if err != nil {
		return hub.Value{}, false
	}
	switch t {
	case hub.TypeNumber:
		return hub.Number(sv.Num, sv.Unit), true
	case hub.TypeBool:
		return hub.Bool(sv.Num != 0), true
	case hub.TypeEnum:
		return hub.Enum(sv.Text), true
	case hub.TypeString:
		return hub.String(sv.Text), true
	case hub.TypeTime:
		tm, err := time.Parse(time.RFC3339Nano, sv.Text)
		if err != nil {
			return hub.Value{}, false
		}
		return hub.Time(tm), true
	}
	return hub.Value{}, false
}

// auditor keeps the hub's audit log in the store.
type auditor struct {
	db      *store.DB
	metrics *metrics
}

func (a *auditor) Audit(ctx context.Context, rec *hub.AuditRecord, durable bool) error {
	row := store.AuditRow{
		ID: rec.ID, At: rec.At, Principal: string(rec.Principal), Source: rec.Source,
		Entity: string(rec.Entity), Action: rec.Action, Args: argsJSON(rec.Args),
		Outcome: string(rec.Outcome), Error: rec.Error, Duration: rec.Duration, Critical: rec.Critical,
	}
	err := a.db.Audit(ctx, &row, durable)
	rec.ID = row.ID
	if rec.Outcome != hub.OutcomePending && a.metrics != nil {
		a.metrics.commands.WithLabelValues(string(rec.Outcome)).Inc()
	}
	return err
}

func argsJSON(args map[string]hub.Value) string {
	if len(args) == 0 {
		return "{}"
	}
	m := make(map[string]any, len(args))
	for k, v := range args {
		m[k] = v.Native()
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "{}"
	}
	return string(b)
}

func fromAuditRow(r store.AuditRow) api.AuditEntry {
	args := json.RawMessage(r.Args)
	if !json.Valid(args) {
		args = json.RawMessage("{}")
	}
	return api.AuditEntry{
		ID: r.ID, At: r.At, Principal: r.Principal, Source: r.Source, Entity: r.Entity,
		Action: r.Action, Args: args, Outcome: r.Outcome, Error: r.Error,
		Duration: api.Duration(r.Duration), Critical: r.Critical,
	}
}
