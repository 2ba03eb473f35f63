package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/hearth-hub/hearth/hub"
)

const frontDoor = hub.ID("lock.front_door")

type doFixture struct {
	h      *hub.Hub
	audit  *recAuditor
	thermo *recHandler
	lock   *recHandler
}

func newDoFixture(t *testing.T) *doFixture {
	t.Helper()
	f := &doFixture{audit: &recAuditor{}, thermo: &recHandler{}, lock: &recHandler{}}
	f.h = hub.New(hub.Options{Auditor: f.audit})
	mustRegister(t, f.h, thermostatEntity(living, f.thermo), map[string]hub.Value{"mode": hub.Enum("off"), "target": hub.Number(20, "°C")})
	mustRegister(t, f.h, lockEntity(frontDoor, f.lock), map[string]hub.Value{"state": hub.Enum("locked")})
	return f
}

// onlyAudit returns the only audit call, failing if there is not exactly one.
func (f *doFixture) onlyAudit(t *testing.T) hub.AuditRecord {
	t.Helper()
	calls := f.audit.Calls()
	if got, want := len(calls), 1; got != want {
		t.Fatalf("audit calls=%d, want %d: %+v", got, want, calls)
	}
	return calls[0].Rec
}

func TestHub_Do(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newDoFixture(t)
		res, err := f.h.Do(t.Context(), hub.Command{
			Entity: living, Action: "boost", Principal: "rule:morning", Source: "rule",
			Args: map[string]hub.Value{"minutes": hub.Number(30, ""), "note": hub.String("cold")},
		})
		if err != nil {
			t.Fatalf("Do()=%v", err)
		}
		cmds := f.thermo.Commands()
		if got, want := len(cmds), 1; got != want {
			t.Fatalf("handler calls=%d, want %d", got, want)
		}
		c := cmds[0]
		if c.Entity != living || c.Action != "boost" || c.Principal != "rule:morning" || c.Source != "rule" {
			t.Fatalf("handler got %+v", c)
		}
		if got, want := c.Args["minutes"], hub.Number(30, ""); !got.Equal(want) {
			t.Fatalf("Args[minutes]=%v, want %v", got, want)
		}
		rec := f.onlyAudit(t)
		if got, want := rec.Outcome, hub.OutcomeOK; got != want {
			t.Fatalf("Outcome=%q, want %q", got, want)
		}
		if rec.Principal != "rule:morning" || rec.Source != "rule" || rec.Entity != living || rec.Action != "boost" || rec.Critical || rec.Error != "" {
			t.Fatalf("audit record=%+v", rec)
		}
		if got, want := res.AuditID, rec.ID; got != want || got == 0 {
			t.Fatalf("Result.AuditID=%d, want %d (non-zero)", got, want)
		}
		if got, want := f.audit.Calls()[0].Durable, false; got != want {
			t.Fatalf("durable=%v, want %v for a non-critical action", got, want)
		}
	})

	t.Run("UnitFilledIn", func(t *testing.T) {
		f := newDoFixture(t)
		if _, err := f.h.Do(t.Context(), hub.Command{Entity: living, Action: "set", Principal: hub.Owner,
			Args: map[string]hub.Value{"target": hub.Number(21, "")}}); err != nil {
			t.Fatal(err)
		}
		if got, want := f.thermo.Commands()[0].Args["target"], hub.Number(21, "°C"); !got.Equal(want) {
			t.Fatalf("handler Args[target]=%v, want %v", got, want)
		}
		if got, want := f.onlyAudit(t).Args["target"], hub.Number(21, "°C"); !got.Equal(want) {
			t.Fatalf("audit Args[target]=%v, want %v", got, want)
		}
	})

	t.Run("UnknownEntity", func(t *testing.T) {
		f := newDoFixture(t)
		_, err := f.h.Do(t.Context(), hub.Command{Entity: "lock.back_door", Action: "lock", Principal: hub.Owner})
		if !errors.Is(err, hub.ErrUnknownEntity) {
			t.Fatalf("Do()=%v, want ErrUnknownEntity", err)
		}
		rec := f.onlyAudit(t)
		if got, want := rec.Outcome, hub.OutcomeRejected; got != want {
			t.Fatalf("Outcome=%q, want %q", got, want)
		}
		if got, want := rec.Entity, hub.ID("lock.back_door"); got != want {
			t.Fatalf("audit Entity=%q, want %q", got, want)
		}
	})

	t.Run("UnknownAction", func(t *testing.T) {
		f := newDoFixture(t)
		_, err := f.h.Do(t.Context(), hub.Command{Entity: frontDoor, Action: "open", Principal: hub.Owner})
		if !errors.Is(err, hub.ErrUnknownAction) {
			t.Fatalf("Do()=%v, want ErrUnknownAction", err)
		}
		if errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("Do()=%v: an unknown action is not a ValidationError", err)
		}
		if got, want := f.onlyAudit(t).Outcome, hub.OutcomeRejected; got != want {
			t.Fatalf("Outcome=%q, want %q", got, want)
		}
		if got, want := len(f.lock.Commands()), 0; got != want {
			t.Fatalf("handler calls=%d, want %d", got, want)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct {
			name, action string
			args         map[string]hub.Value
			field        string
			reason       string
		}{
			{"WrongType", "set", map[string]hub.Value{"target": hub.String("21")}, "target", "want number, got string"},
			{"BelowMin", "set", map[string]hub.Value{"target": hub.Number(4, "")}, "target", "below the minimum 5"},
			{"AboveMax", "set", map[string]hub.Value{"target": hub.Number(31, "°C")}, "target", "above the maximum 30"},
			{"NaN", "set", map[string]hub.Value{"target": hub.Number(math.NaN(), "")}, "target", "not a finite number"},
			{"NotInOptions", "set", map[string]hub.Value{"mode": hub.Enum("auto")}, "mode", `"auto" is not one of`},
			{"ReadOnlyAttr", "set", map[string]hub.Value{"current": hub.Number(20, "")}, "current", "no such argument"},
			{"UnknownArg", "boost", map[string]hub.Value{"minutes": hub.Number(5, ""), "speed": hub.Number(1, "")}, "speed", "no such argument"},
			{"MissingRequired", "boost", map[string]hub.Value{"note": hub.String("x")}, "minutes", "is required"},
			{"TooLong", "boost", map[string]hub.Value{"minutes": hub.Number(5, ""), "note": hub.String(strings.Repeat("x", 17))}, "note", "longer than 16"},
			{"EmptySet", "set", nil, "", "at least one"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				f := newDoFixture(t)
				_, err := f.h.Do(t.Context(), hub.Command{Entity: living, Action: tt.action, Args: tt.args, Principal: hub.Owner})
				var ve *hub.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Do()=%v, want a *ValidationError", err)
				}
				if !errors.Is(err, hub.ErrInvalid) {
					t.Fatalf("errors.Is(%v, ErrInvalid)=false", err)
				}
				if got, want := ve.Entity, living; got != want {
					t.Fatalf("Entity=%q, want %q", got, want)
				}
				if got, want := ve.Field, tt.field; got != want {
					t.Fatalf("Field=%q, want %q", got, want)
				}
				if !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), string(living)) {
					t.Fatalf("Error()=%q, want it to name %s and contain %q", err, living, tt.reason)
				}
				if got, want := len(f.thermo.Commands()), 0; got != want {
					t.Fatalf("handler calls=%d, want %d", got, want)
				}
				rec := f.onlyAudit(t)
				if got, want := rec.Outcome, hub.OutcomeRejected; got != want {
					t.Fatalf("Outcome=%q, want %q", got, want)
				}
				if got, want := rec.Error, err.Error(); got != want {
					t.Fatalf("audit Error=%q, want %q", got, want)
				}
			})
		}
	})

	t.Run("Failed", func(t *testing.T) {
		f := newDoFixture(t)
		f.thermo.err = errors.New("relay stuck")
		_, err := f.h.Do(t.Context(), hub.Command{Entity: living, Action: "set", Args: map[string]hub.Value{"mode": hub.Enum("heat")}, Principal: hub.Owner})
		if err == nil || !strings.Contains(err.Error(), "relay stuck") {
			t.Fatalf("Do()=%v, want the handler's error", err)
		}
		rec := f.onlyAudit(t)
		if rec.Outcome != hub.OutcomeFailed || rec.Error != "relay stuck" {
			t.Fatalf("audit=%q %q, want %q %q", rec.Outcome, rec.Error, hub.OutcomeFailed, "relay stuck")
		}
	})

	t.Run("Panic", func(t *testing.T) {
		f := newDoFixture(t)
		f.thermo.hook = func(hub.Command) { panic("boom") }
		_, err := f.h.Do(t.Context(), hub.Command{Entity: living, Action: "set", Args: map[string]hub.Value{"mode": hub.Enum("heat")}, Principal: hub.Owner})
		if err == nil || !strings.Contains(err.Error(), "panicked") || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("Do()=%v, want an error reporting the panic", err)
		}
		if got, want := f.onlyAudit(t).Outcome, hub.OutcomeFailed; got != want {
			t.Fatalf("Outcome=%q, want %q", got, want)
		}
		// The hub still works, locks included.
		f.thermo.hook = nil
		if _, err := f.h.Do(t.Context(), hub.Command{Entity: living, Action: "set", Args: map[string]hub.Value{"mode": hub.Enum("heat")}, Principal: hub.Owner}); err != nil {
			t.Fatalf("Do() after a panic=%v", err)
		}
		if _, err := f.h.Update(living, "hardware", "", map[string]hub.Value{"mode": hub.Enum("heat")}); err != nil {
			t.Fatalf("Update() after a panic=%v", err)
		}
	})

	t.Run("NoAuditor", func(t *testing.T) {
		h := hub.New(hub.Options{})
		lh := &recHandler{}
		mustRegister(t, h, lockEntity(frontDoor, lh), nil)
		res, err := h.Do(t.Context(), hub.Command{Entity: frontDoor, Action: "lock", Principal: hub.Owner})
		if err != nil {
			t.Fatalf("Do()=%v", err)
		}
		if got, want := res.AuditID, int64(0); got != want {
			t.Fatalf("AuditID=%d, want %d", got, want)
		}
		if got, want := len(lh.Commands()), 1; got != want {
			t.Fatalf("handler calls=%d, want %d", got, want)
		}
	})

	t.Run("FinalAuditFails", func(t *testing.T) {
		f := newDoFixture(t)
		f.audit.failFor = func(*hub.AuditRecord, bool) error { return errors.New("disk full") }
		_, err := f.h.Do(t.Context(), hub.Command{Entity: living, Action: "set", Args: map[string]hub.Value{"mode": hub.Enum("heat")}, Principal: hub.Owner})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("Do()=%v, want the audit error reported", err)
		}
		if got, want := len(f.thermo.Commands()), 1; got != want {
			t.Fatalf("handler calls=%d, want %d: a non-critical command runs before its audit", got, want)
		}
	})
}

// TestHub_DoConcurrent is for -race: commands, updates, reads and
// authorizer changes all at once.
func TestHub_DoConcurrent(t *testing.T) {
	f := newDoFixture(t)
	if err := f.h.RegisterVirtual(vNumber, hub.Value{}); err != nil {
		t.Fatal(err)
	}
	sub := f.h.Bus().Subscribe("test", 1<<16, nil)
	const per = 200
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range per {
			v := hub.Number(10+float64(i%15), "")
			if _, err := f.h.Do(t.Context(), hub.Command{Entity: vNumber.ID, Action: "set", Principal: hub.Owner, Args: map[string]hub.Value{"value": v}}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for i := range per {
			if _, err := f.h.Update(living, "hardware", "", map[string]hub.Value{"current": hub.Number(float64(i), "")}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for range per {
			f.h.Do(t.Context(), hub.Command{Entity: frontDoor, Action: "lock", Principal: "mqtt:x"})
			f.h.Entities()
		}
	})
	wg.Go(func() {
		for range per {
			f.h.SetAuthorizer("mqtt", hub.AuthorizerFunc(func(hub.Principal, hub.ID, string) error { return nil }))
		}
	})
	wg.Wait()
	var last uint64
	for _, ev := range drainAll(t, sub) {
		if ev.Seq <= last {
			t.Fatalf("Seq %d after %d", ev.Seq, last)
		}
		last = ev.Seq
	}
}

func TestHub_DoAuthorize(t *testing.T) {
	setArgs := map[string]hub.Value{"mode": hub.Enum("heat")}
	t.Run("Defaults", func(t *testing.T) {
		for _, tt := range []struct {
			p       hub.Principal
			allowed bool
		}{
			{hub.Owner, true},
			{"rule:morning", true},
			{"mqtt:kitchen", false},
			{"assistant:alexa", false},
			{"", false},
			{"owner:x", false},
			{"admin", false},
			{"rule", false},
			{"rule:", false},
		} {
			t.Run(string(tt.p), func(t *testing.T) {
				f := newDoFixture(t)
				_, err := f.h.Do(t.Context(), hub.Command{Entity: living, Action: "set", Args: setArgs, Principal: tt.p})
				if tt.allowed {
					if err != nil {
						t.Fatalf("Do() by %q=%v, want allowed", tt.p, err)
					}
					if got, want := f.onlyAudit(t).Outcome, hub.OutcomeOK; got != want {
						t.Fatalf("Outcome=%q, want %q", got, want)
					}
					return
				}
				if !errors.Is(err, hub.ErrForbidden) {
					t.Fatalf("Do() by %q=%v, want ErrForbidden", tt.p, err)
				}
				if got, want := len(f.thermo.Commands()), 0; got != want {
					t.Fatalf("handler calls=%d, want %d", got, want)
				}
				rec := f.onlyAudit(t)
				if got, want := rec.Outcome, hub.OutcomeDenied; got != want {
					t.Fatalf("Outcome=%q, want %q", got, want)
				}
				if got, want := rec.Principal, tt.p; got != want {
					t.Fatalf("audit Principal=%q, want %q", got, want)
				}
			})
		}
	})

	t.Run("refused before validation", func(t *testing.T) {
		// A principal without the right learns nothing of the schema.
		f := newDoFixture(t)
		for _, cmd := range []hub.Command{
			{Entity: living, Action: "set", Args: map[string]hub.Value{"mode": hub.Enum("sauna")}, Principal: "mqtt:kitchen"},
			{Entity: living, Action: "explode", Principal: "assistant:alexa"},
			{Entity: "lock.nowhere", Action: "lock", Principal: "mqtt:kitchen"},
		} {
			_, err := f.h.Do(t.Context(), cmd)
			if !errors.Is(err, hub.ErrForbidden) || errors.Is(err, hub.ErrInvalid) || errors.Is(err, hub.ErrUnknownEntity) || errors.Is(err, hub.ErrUnknownAction) {
				t.Fatalf("Do(%+v)=%v, want ErrForbidden alone", cmd, err)
			}
		}
		_, err := f.h.DoJSON(t.Context(), hub.Command{Entity: living, Action: "set", Principal: "mqtt:kitchen"}, map[string]json.RawMessage{"mode": json.RawMessage("42")})
		if !errors.Is(err, hub.ErrForbidden) || errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("DoJSON()=%v, want ErrForbidden alone", err)
		}
	})

	t.Run("Authorizer", func(t *testing.T) {
		f := newDoFixture(t)
		type ask struct {
			p      hub.Principal
			id     hub.ID
			action string
		}
		var asked []ask
		f.h.SetAuthorizer("mqtt", hub.AuthorizerFunc(func(p hub.Principal, id hub.ID, action string) error {
			asked = append(asked, ask{p, id, action})
			if p == "mqtt:kitchen" && id == living {
				return nil
			}
			return errors.New("no acl")
		}))
		if _, err := f.h.Do(t.Context(), hub.Command{Entity: living, Action: "set", Args: setArgs, Principal: "mqtt:kitchen"}); err != nil {
			t.Fatalf("Do() by allowed mqtt user=%v", err)
		}
		_, err := f.h.Do(t.Context(), hub.Command{Entity: frontDoor, Action: "unlock", Principal: "mqtt:kitchen"})
		if !errors.Is(err, hub.ErrForbidden) || !strings.Contains(err.Error(), "no acl") {
			t.Fatalf("Do() by refused mqtt user=%v, want ErrForbidden with the reason", err)
		}
		if got, want := len(asked), 2; got != want {
			t.Fatalf("authorizer calls=%d, want %d", got, want)
		}
		if got, want := asked[1], (ask{"mqtt:kitchen", frontDoor, "unlock"}); got != want {
			t.Fatalf("authorizer asked %+v, want %+v", got, want)
		}
		// Other kinds keep their defaults.
		if _, err := f.h.Do(t.Context(), hub.Command{Entity: living, Action: "set", Args: setArgs, Principal: "assistant:alexa"}); !errors.Is(err, hub.ErrForbidden) {
			t.Fatalf("Do() by assistant=%v, want ErrForbidden", err)
		}
		calls := f.audit.Calls()
		var outcomes []string
		for _, c := range calls {
			outcomes = append(outcomes, string(c.Rec.Outcome))
		}
		if got, want := strings.Join(outcomes, " "), "ok denied denied"; got != want {
			t.Fatalf("outcomes=%s, want %s", got, want)
		}
		if got, want := calls[1].Rec.Critical, true; got != want {
			t.Fatalf("denied unlock Critical=%v, want %v", got, want)
		}
		if got, want := len(f.lock.Commands()), 0; got != want {
			t.Fatalf("lock handler calls=%d, want %d", got, want)
		}
	})

	t.Run("AssistantGrant", func(t *testing.T) {
		f := newDoFixture(t)
		f.h.SetAuthorizer("assistant", hub.AuthorizerFunc(func(p hub.Principal, id hub.ID, action string) error {
			if p == "assistant:google" && action == "set" {
				return nil
			}
			return errors.New("no control grant")
		}))
		if _, err := f.h.Do(t.Context(), hub.Command{Entity: living, Action: "set", Args: setArgs, Principal: "assistant:google"}); err != nil {
			t.Fatalf("Do() with a grant=%v", err)
		}
		if _, err := f.h.Do(t.Context(), hub.Command{Entity: living, Action: "set", Args: setArgs, Principal: "assistant:alexa"}); !errors.Is(err, hub.ErrForbidden) {
			t.Fatalf("Do() without a grant=%v, want ErrForbidden", err)
		}
	})
}

func TestHub_DoCritical(t *testing.T) {
	t.Run("PendingBeforeHandler", func(t *testing.T) {
		f := newDoFixture(t)
		var seenByHandler []auditCall
		f.lock.hook = func(hub.Command) { seenByHandler = f.audit.Calls() }
		res, err := f.h.Do(t.Context(), hub.Command{Entity: frontDoor, Action: "unlock", Principal: hub.Owner, Source: "api"})
		if err != nil {
			t.Fatalf("Do()=%v", err)
		}
		if got, want := len(seenByHandler), 1; got != want {
			t.Fatalf("audit calls seen by the handler=%d, want %d", got, want)
		}
		pending := seenByHandler[0]
		if pending.Rec.Outcome != hub.OutcomePending || !pending.Durable || !pending.Rec.Critical {
			t.Fatalf("first audit=%+v, want a durable critical pending record", pending)
		}
		calls := f.audit.Calls()
		if got, want := len(calls), 2; got != want {
			t.Fatalf("audit calls=%d, want %d", got, want)
		}
		final := calls[1]
		if final.Rec.Outcome != hub.OutcomeOK || !final.Durable || !final.Rec.Critical {
			t.Fatalf("final audit=%+v, want a durable critical ok record", final)
		}
		if got, want := final.Rec.ID, pending.Rec.ID; got != want {
			t.Fatalf("final record ID=%d, want %d (it replaces the pending row)", got, want)
		}
		if got, want := res.AuditID, pending.Rec.ID; got != want {
			t.Fatalf("Result.AuditID=%d, want %d", got, want)
		}
	})

	t.Run("PendingAuditFails", func(t *testing.T) {
		f := newDoFixture(t)
		f.audit.failFor = func(rec *hub.AuditRecord, durable bool) error {
			if rec.Outcome == hub.OutcomePending {
				return errors.New("database is locked")
			}
			return nil
		}
		_, err := f.h.Do(t.Context(), hub.Command{Entity: frontDoor, Action: "unlock", Principal: hub.Owner})
		if err == nil || !strings.Contains(err.Error(), "database is locked") {
			t.Fatalf("Do()=%v, want the audit error", err)
		}
		if got, want := len(f.lock.Commands()), 0; got != want {
			t.Fatalf("handler calls=%d, want %d: no unaudited unlock", got, want)
		}
	})

	t.Run("Failed", func(t *testing.T) {
		f := newDoFixture(t)
		f.lock.err = errors.New("jammed")
		if _, err := f.h.Do(t.Context(), hub.Command{Entity: frontDoor, Action: "lock", Principal: "rule:night"}); err == nil {
			t.Fatalf("Do()=nil, want the handler's error")
		}
		calls := f.audit.Calls()
		if got, want := len(calls), 2; got != want {
			t.Fatalf("audit calls=%d, want %d", got, want)
		}
		if c := calls[1]; c.Rec.Outcome != hub.OutcomeFailed || c.Rec.Error != "jammed" || !c.Durable {
			t.Fatalf("final audit=%+v, want durable failed jammed", c)
		}
	})

	t.Run("CancelledWhileRunning", func(t *testing.T) {
		f := newDoFixture(t)
		ctx, cancel := context.WithCancel(t.Context())
		f.lock.hook = func(hub.Command) { cancel() }
		var finalCtxErr error
		f.audit.failFor = func(rec *hub.AuditRecord, durable bool) error {
			if rec.Outcome != hub.OutcomePending {
				finalCtxErr = ctx.Err()
			}
			return nil
		}
		if _, err := f.h.Do(ctx, hub.Command{Entity: frontDoor, Action: "lock", Principal: hub.Owner}); err != nil {
			t.Fatalf("Do()=%v", err)
		}
		if got, want := len(f.audit.Calls()), 2; got != want {
			t.Fatalf("audit calls=%d, want %d: the final record is written after a cancel", got, want)
		}
		if finalCtxErr == nil {
			t.Fatalf("test bug: ctx was not cancelled before the final audit")
		}
	})
}

func TestHub_DecodeArgs(t *testing.T) {
	f := newDoFixture(t)
	raw := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Run("OK", func(t *testing.T) {
		args, err := f.h.DecodeArgs(living, "set", raw(`{"target": 21.5, "mode": "heat"}`))
		if err != nil {
			t.Fatalf("DecodeArgs()=%v", err)
		}
		if got, want := args["target"], hub.Number(21.5, "°C"); !got.Equal(want) {
			t.Fatalf("target=%v, want %v", got, want)
		}
		if got, want := args["mode"], hub.Enum("heat"); !got.Equal(want) {
			t.Fatalf("mode=%v, want %v", got, want)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct{ action, in, field, reason string }{
			{"set", `{"target": "21.5"}`, "target", `want a number, got a string "21.5"`},
			{"set", `{"target":   null}`, "target", `want a number, got null`},
			{"set", `{"target": 40}`, "target", `above the maximum 30`},
			{"set", `{"mode": true}`, "mode", `want a string, got a bool true`},
			{"set", `{"mode": "auto"}`, "mode", `not one of`},
			{"set", `{"colour": "red"}`, "colour", `no such argument`},
			{"boost", `{"minutes": [1]}`, "minutes", `got an array`},
		} {
			_, err := f.h.DecodeArgs(living, tt.action, raw(tt.in))
			var ve *hub.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, hub.ErrInvalid) {
				t.Fatalf("DecodeArgs(%s)=%v, want a *ValidationError", tt.in, err)
			}
			if ve.Field != tt.field || ve.Entity != living || !strings.Contains(ve.Reason, tt.reason) {
				t.Fatalf("DecodeArgs(%s)=%+v, want field %q, reason containing %q", tt.in, ve, tt.field, tt.reason)
			}
			if !strings.Contains(err.Error(), `"`+tt.field+`"`) {
				t.Fatalf("Error()=%q does not name the field %q", err, tt.field)
			}
		}
	})
	t.Run("UnknownAction", func(t *testing.T) {
		if _, err := f.h.DecodeArgs(living, "fly", raw(`{}`)); !errors.Is(err, hub.ErrUnknownAction) {
			t.Fatalf("DecodeArgs(fly)=%v, want ErrUnknownAction", err)
		}
	})
	t.Run("UnknownEntity", func(t *testing.T) {
		if _, err := f.h.DecodeArgs("lock.nope", "lock", nil); !errors.Is(err, hub.ErrUnknownEntity) {
			t.Fatalf("DecodeArgs(lock.nope)=%v, want ErrUnknownEntity", err)
		}
	})
}
