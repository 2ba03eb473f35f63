package hub_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/hub"
)

// fakeClock is a wall clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recAuditor keeps a copy of every audit call, in order.
type recAuditor struct {
	mu      sync.Mutex
	calls   []auditCall
	nextID  int64
	failFor func(rec *hub.AuditRecord, durable bool) error
}

type auditCall struct {
	Rec     hub.AuditRecord
	Durable bool
}

func (a *recAuditor) Audit(_ context.Context, rec *hub.AuditRecord, durable bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failFor != nil {
		if err := a.failFor(rec, durable); err != nil {
			return err
		}
	}
	if rec.ID == 0 {
		a.nextID++
		rec.ID = a.nextID
	}
	c := *rec
	c.Args = maps.Clone(rec.Args)
	a.calls = append(a.calls, auditCall{Rec: c, Durable: durable})
	return nil
}

func (a *recAuditor) Calls() []auditCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]auditCall(nil), a.calls...)
}

var _ hub.Auditor = (*recAuditor)(nil)

// recHandler records the commands it is given.
type recHandler struct {
	mu   sync.Mutex
	cmds []hub.Command
	err  error
	hook func(cmd hub.Command)
}

func (h *recHandler) HandleCommand(_ context.Context, cmd hub.Command) error {
	if h.hook != nil {
		h.hook(cmd)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cmds = append(h.cmds, cmd)
	return h.err
}

func (h *recHandler) Commands() []hub.Command {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hub.Command(nil), h.cmds...)
}

var _ hub.Handler = (*recHandler)(nil)

func thermostatEntity(id hub.ID, h hub.Handler) hub.Entity {
	return hub.Entity{
		ID:   id,
		Name: "Living room",
		Attrs: []hub.AttrSpec{
			{Name: "mode", Type: hub.TypeEnum, Options: []string{"off", "heat", "cool"}, Writable: true},
			{Name: "target", Type: hub.TypeNumber, Unit: "°C", Ranged: true, Min: 5, Max: 30, Step: 0.5, Writable: true},
			{Name: "current", Type: hub.TypeNumber, Unit: "°C"},
			{Name: "humidity", Type: hub.TypeNumber, Unit: "%"},
			{Name: "away", Type: hub.TypeBool},
		},
		Actions: []hub.ActionSpec{
			{Name: "boost", Args: []hub.AttrSpec{
				{Name: "minutes", Type: hub.TypeNumber, Ranged: true, Min: 1, Max: 120, Required: true},
				{Name: "note", Type: hub.TypeString, MaxLen: 16},
			}},
		},
		Handler: h,
	}
}

func lockEntity(id hub.ID, h hub.Handler) hub.Entity {
	return hub.Entity{
		ID:      id,
		Attrs:   []hub.AttrSpec{{Name: "state", Type: hub.TypeEnum, Options: []string{"locked", "unlocked", "jammed"}}},
		Actions: []hub.ActionSpec{{Name: "lock", Critical: true}, {Name: "unlock", Critical: true}},
		Handler: h,
	}
}

// mustRegister registers e or fails the test.
func mustRegister(tb testing.TB, h *hub.Hub, e hub.Entity, initial map[string]hub.Value) {
	tb.Helper()
	if err := h.Register(e, initial); err != nil {
		tb.Fatalf("Register(%s)=%v", e.ID, err)
	}
}

// drainAll returns every event queued for sub, failing on a drop.
func drainAll(tb testing.TB, sub *hub.Subscription) []hub.Event {
	tb.Helper()
	evs, dropped := sub.Drain(nil)
	if dropped != 0 {
		tb.Fatalf("Drain() dropped=%d, want 0", dropped)
	}
	return evs
}
