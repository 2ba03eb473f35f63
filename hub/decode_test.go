package hub_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hearth-hub/hearth/hub"
)

func rawArgs(t *testing.T, s string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHub_DoJSON(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newDoFixture(t)
		_, err := f.h.DoJSON(t.Context(), hub.Command{Entity: living, Action: "set", Principal: "mqtt:panel", Source: "mqtt"}, rawArgs(t, `{"target": 21.5}`))
		if !errors.Is(err, hub.ErrForbidden) {
			t.Fatalf("DoJSON() by mqtt without an authorizer=%v, want ErrForbidden", err)
		}
		if _, err := f.h.DoJSON(t.Context(), hub.Command{Entity: living, Action: "set", Principal: hub.Owner, Source: "api"}, rawArgs(t, `{"target": 21.5}`)); err != nil {
			t.Fatalf("DoJSON()=%v", err)
		}
		cmds := f.thermo.Commands()
		if got, want := len(cmds), 1; got != want {
			t.Fatalf("handler calls=%d, want %d", got, want)
		}
		if got, want := cmds[0].Args["target"], hub.Number(21.5, "°C"); !got.Equal(want) {
			t.Fatalf("Args[target]=%v, want %v", got, want)
		}
		calls := f.audit.Calls()
		if got, want := len(calls), 2; got != want {
			t.Fatalf("audit calls=%d, want %d", got, want)
		}
		if got, want := calls[0].Rec.Outcome, hub.OutcomeDenied; got != want {
			t.Fatalf("first Outcome=%q, want %q", got, want)
		}
		if got, want := calls[1].Rec.Outcome, hub.OutcomeOK; got != want {
			t.Fatalf("second Outcome=%q, want %q", got, want)
		}
	})

	t.Run("Undecodable", func(t *testing.T) {
		f := newDoFixture(t)
		_, err := f.h.DoJSON(t.Context(), hub.Command{Entity: living, Action: "set", Principal: hub.Owner}, rawArgs(t, `{"target":"21.5"}`))
		var ve *hub.ValidationError
		if !errors.As(err, &ve) || ve.Field != "target" || ve.Entity != living {
			t.Fatalf("DoJSON()=%v, want a ValidationError on target", err)
		}
		if got, want := len(f.thermo.Commands()), 0; got != want {
			t.Fatalf("handler calls=%d, want %d", got, want)
		}
		rec := f.onlyAudit(t)
		if got, want := rec.Outcome, hub.OutcomeRejected; got != want {
			t.Fatalf("Outcome=%q, want %q", got, want)
		}
		if got, want := rec.Args["target"], hub.String(`"21.5"`); !got.Equal(want) {
			t.Fatalf("audit Args[target]=%v, want the raw text %v", got, want)
		}
	})

	t.Run("MissingRequired", func(t *testing.T) {
		f := newDoFixture(t)
		_, err := f.h.DoJSON(t.Context(), hub.Command{Entity: living, Action: "boost", Principal: hub.Owner}, rawArgs(t, `{"note":"x"}`))
		var ve *hub.ValidationError
		if !errors.As(err, &ve) || ve.Field != "minutes" {
			t.Fatalf("DoJSON()=%v, want a ValidationError on minutes", err)
		}
		if got, want := f.onlyAudit(t).Outcome, hub.OutcomeRejected; got != want {
			t.Fatalf("Outcome=%q, want %q", got, want)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		f := newDoFixture(t)
		if _, err := f.h.DoJSON(t.Context(), hub.Command{Entity: "lock.nope", Action: "lock", Principal: hub.Owner}, nil); !errors.Is(err, hub.ErrUnknownEntity) {
			t.Fatalf("DoJSON(unknown entity)=%v, want ErrUnknownEntity", err)
		}
		if _, err := f.h.DoJSON(t.Context(), hub.Command{Entity: frontDoor, Action: "open", Principal: hub.Owner}, nil); !errors.Is(err, hub.ErrUnknownAction) {
			t.Fatalf("DoJSON(unknown action)=%v, want ErrUnknownAction", err)
		}
		for _, c := range f.audit.Calls() {
			if got, want := c.Rec.Outcome, hub.OutcomeRejected; got != want {
				t.Fatalf("Outcome=%q, want %q", got, want)
			}
		}
	})

	t.Run("CriticalRejectedIsDurable", func(t *testing.T) {
		// A bad lock command is audited as Do audits it: critical, durably.
		f := newDoFixture(t)
		_, err := f.h.DoJSON(t.Context(), hub.Command{Entity: frontDoor, Action: "unlock", Principal: "rule:x"}, rawArgs(t, `{"force":true}`))
		if !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("DoJSON()=%v, want ErrInvalid", err)
		}
		_, err = f.h.Do(t.Context(), hub.Command{Entity: frontDoor, Action: "unlock", Principal: "rule:x", Args: map[string]hub.Value{"force": hub.Bool(true)}})
		if !errors.Is(err, hub.ErrInvalid) {
			t.Fatalf("Do()=%v, want ErrInvalid", err)
		}
		calls := f.audit.Calls()
		if got, want := len(calls), 2; got != want {
			t.Fatalf("audit calls=%d, want %d", got, want)
		}
		for i, c := range calls {
			if !c.Rec.Critical || !c.Durable || c.Rec.Outcome != hub.OutcomeRejected {
				t.Fatalf("audit %d=%+v, want a durable critical rejected record", i, c)
			}
		}
	})
}
