package hub_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hearth-hub/hearth/hub"
)

var (
	vNumber = hub.VirtualSpec{ID: "number.eco_target", Min: 10, Max: 25, Step: 0.5, Unit: "°C"}
	vBool   = hub.VirtualSpec{ID: "boolean.guests"}
	vSelect = hub.VirtualSpec{ID: "select.house_mode", Options: []string{"home", "away", "night"}}
	vText   = hub.VirtualSpec{ID: "text.note"}
)

func TestVirtualSpec_Entity(t *testing.T) {
	t.Run("Kinds", func(t *testing.T) {
		for _, tt := range []struct {
			spec hub.VirtualSpec
			typ  hub.Type
		}{
			{vNumber, hub.TypeNumber},
			{vBool, hub.TypeBool},
			{vSelect, hub.TypeEnum},
			{vText, hub.TypeString},
		} {
			e, err := tt.spec.Entity()
			if err != nil {
				t.Fatalf("%s: Entity()=%v", tt.spec.ID, err)
			}
			if !e.Virtual || e.Handler != nil || len(e.Actions) != 0 {
				t.Fatalf("%s: Entity()=%+v, want a virtual entity with no handler and no actions", tt.spec.ID, e)
			}
			if got, want := len(e.Attrs), 1; got != want {
				t.Fatalf("%s: len(Attrs)=%d, want %d", tt.spec.ID, got, want)
			}
			a := e.Attrs[0]
			if a.Name != hub.VirtualValueAttr || a.Type != tt.typ || !a.Writable {
				t.Fatalf("%s: attr=%+v, want writable %q of type %v", tt.spec.ID, a, hub.VirtualValueAttr, tt.typ)
			}
		}
		e, _ := vNumber.Entity()
		if a := e.Attrs[0]; !a.Ranged || a.Min != 10 || a.Max != 25 || a.Unit != "°C" || a.Step != 0.5 {
			t.Fatalf("number attr=%+v", a)
		}
	})

	t.Run("OptionsCopied", func(t *testing.T) {
		spec := hub.VirtualSpec{ID: "select.x", Options: []string{"a", "b"}}
		e, _ := spec.Entity()
		spec.Options[0] = "z"
		if got, want := e.Attrs[0].Options[0], "a"; got != want {
			t.Fatalf("Options[0]=%q, want %q", got, want)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		for _, tt := range []struct {
			spec    hub.VirtualSpec
			wantErr string
		}{
			{hub.VirtualSpec{ID: "sensor.x"}, `kind "sensor" cannot be virtual`},
			{hub.VirtualSpec{ID: "number.x", Min: 5, Max: 1}, "above max"},
			{hub.VirtualSpec{ID: "select.x"}, "needs options"},
		} {
			if _, err := tt.spec.Entity(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("%s: Entity()=%v, want error containing %q", tt.spec.ID, err, tt.wantErr)
			}
		}
	})
}

func TestVirtualSpec_Default(t *testing.T) {
	for _, tt := range []struct {
		spec hub.VirtualSpec
		want hub.Value
	}{
		{vNumber, hub.Number(10, "°C")},
		{vBool, hub.Bool(false)},
		{vSelect, hub.Enum("home")},
		{vText, hub.String("")},
		{hub.VirtualSpec{ID: "boolean.x", Initial: hub.Bool(true)}, hub.Bool(true)},
	} {
		if got := tt.spec.Default(); !got.Equal(tt.want) {
			t.Fatalf("%s: Default()=%v, want %v", tt.spec.ID, got, tt.want)
		}
	}
}

func TestHub_RegisterVirtual(t *testing.T) {
	get := func(t *testing.T, h *hub.Hub, id hub.ID) hub.Value {
		t.Helper()
		s, ok := h.Get(id)
		if !ok {
			t.Fatalf("Get(%s) ok=false", id)
		}
		if !s.Virtual {
			t.Fatalf("Get(%s).Virtual=false", id)
		}
		return s.Attrs[hub.VirtualValueAttr]
	}

	t.Run("Restore", func(t *testing.T) {
		for _, tt := range []struct {
			name     string
			spec     hub.VirtualSpec
			restored hub.Value
			want     hub.Value
		}{
			{"NumberNone", vNumber, hub.Value{}, hub.Number(10, "°C")},
			{"NumberRestored", vNumber, hub.Number(18.5, "°C"), hub.Number(18.5, "°C")},
			{"NumberRestoredNoUnit", vNumber, hub.Number(18.5, ""), hub.Number(18.5, "°C")},
			{"NumberBelowRange", vNumber, hub.Number(9.5, "°C"), hub.Number(10, "°C")},
			{"NumberAboveRange", vNumber, hub.Number(40, "°C"), hub.Number(10, "°C")},
			{"NumberNaN", vNumber, hub.Number(math.NaN(), "°C"), hub.Number(10, "°C")},
			{"NumberWrongType", vNumber, hub.String("18"), hub.Number(10, "°C")},
			{"NumberInitial", hub.VirtualSpec{ID: "number.x", Min: 0, Max: 10, Initial: hub.Number(5, "")}, hub.Number(11, ""), hub.Number(5, "")},
			{"BoolRestored", vBool, hub.Bool(true), hub.Bool(true)},
			{"BoolWrongType", vBool, hub.Number(1, ""), hub.Bool(false)},
			{"SelectRestored", vSelect, hub.Enum("night"), hub.Enum("night")},
			{"SelectNotAnOption", vSelect, hub.Enum("party"), hub.Enum("home")},
			{"SelectString", vSelect, hub.String("night"), hub.Enum("home")},
			{"TextRestored", vText, hub.String("back at 6"), hub.String("back at 6")},
			{"TextTooLong", vText, hub.String(strings.Repeat("x", 256)), hub.String("")},
		} {
			t.Run(tt.name, func(t *testing.T) {
				h := hub.New(hub.Options{})
				if err := h.RegisterVirtual(tt.spec, tt.restored); err != nil {
					t.Fatalf("RegisterVirtual()=%v", err)
				}
				if got := get(t, h, tt.spec.ID); !got.Equal(tt.want) {
					t.Fatalf("value=%v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("BadInitial", func(t *testing.T) {
		for _, spec := range []hub.VirtualSpec{
			{ID: "number.x", Min: 0, Max: 10, Initial: hub.Number(11, "")},
			{ID: "select.x", Options: []string{"a"}, Initial: hub.Enum("b")},
			{ID: "boolean.x", Initial: hub.String("true")},
		} {
			if err := hub.New(hub.Options{}).RegisterVirtual(spec, hub.Value{}); err == nil || !strings.Contains(err.Error(), "initial value") {
				t.Fatalf("%s: RegisterVirtual()=%v, want an initial value error", spec.ID, err)
			}
		}
	})

	t.Run("BadSpec", func(t *testing.T) {
		if err := hub.New(hub.Options{}).RegisterVirtual(hub.VirtualSpec{ID: "select.x"}, hub.Value{}); err == nil {
			t.Fatalf("RegisterVirtual(select without options)=nil, want an error")
		}
	})

	t.Run("Set", func(t *testing.T) {
		audit := &recAuditor{}
		h := hub.New(hub.Options{Auditor: audit})
		for _, s := range []hub.VirtualSpec{vNumber, vBool, vSelect, vText} {
			if err := h.RegisterVirtual(s, hub.Value{}); err != nil {
				t.Fatal(err)
			}
		}
		sub := h.Bus().Subscribe("test", 16, nil)
		for _, tt := range []struct {
			spec hub.VirtualSpec
			v    hub.Value
			want hub.Value
		}{
			{vNumber, hub.Number(21, ""), hub.Number(21, "°C")},
			{vBool, hub.Bool(true), hub.Bool(true)},
			{vSelect, hub.Enum("away"), hub.Enum("away")},
			{vText, hub.String("hi"), hub.String("hi")},
		} {
			res, err := h.Do(t.Context(), hub.Command{Entity: tt.spec.ID, Action: hub.ActionSet, Principal: "rule:leave", Source: "rule",
				Args: map[string]hub.Value{hub.VirtualValueAttr: tt.v}})
			if err != nil {
				t.Fatalf("%s: Do(set)=%v", tt.spec.ID, err)
			}
			if got := get(t, h, tt.spec.ID); !got.Equal(tt.want) {
				t.Fatalf("%s: value=%v, want %v", tt.spec.ID, got, tt.want)
			}
			evs := drainAll(t, sub)
			if got, want := len(evs), 1; got != want {
				t.Fatalf("%s: events=%d, want %d", tt.spec.ID, got, want)
			}
			ev := evs[0]
			if ev.Entity != tt.spec.ID || ev.Cause != "rule:leave" || ev.Source != "rule" || len(ev.Changes) != 1 || !ev.Changes[0].New.Equal(tt.want) {
				t.Fatalf("%s: event=%+v, want cause rule:leave, source rule, value %v", tt.spec.ID, ev, tt.want)
			}
			if got, want := res.Seq, ev.Seq; got != want {
				t.Fatalf("%s: Result.Seq=%d, want %d", tt.spec.ID, got, want)
			}
		}
		// Setting the same value again changes nothing and publishes nothing.
		if _, err := h.Do(t.Context(), hub.Command{Entity: vBool.ID, Action: hub.ActionSet, Principal: hub.Owner,
			Args: map[string]hub.Value{hub.VirtualValueAttr: hub.Bool(true)}}); err != nil {
			t.Fatal(err)
		}
		if got, want := len(drainAll(t, sub)), 0; got != want {
			t.Fatalf("events=%d, want %d", got, want)
		}
		for _, c := range audit.Calls() {
			if c.Rec.Outcome != hub.OutcomeOK {
				t.Fatalf("audit=%+v, want ok", c.Rec)
			}
		}
	})

	t.Run("SetRejected", func(t *testing.T) {
		h := hub.New(hub.Options{})
		if err := h.RegisterVirtual(vNumber, hub.Value{}); err != nil {
			t.Fatal(err)
		}
		_, err := h.Do(t.Context(), hub.Command{Entity: vNumber.ID, Action: hub.ActionSet, Principal: hub.Owner,
			Args: map[string]hub.Value{hub.VirtualValueAttr: hub.Number(26, "")}})
		var ve *hub.ValidationError
		if !errors.As(err, &ve) || ve.Field != hub.VirtualValueAttr {
			t.Fatalf("Do(set 26)=%v, want a ValidationError on %q", err, hub.VirtualValueAttr)
		}
		_, err = h.Do(t.Context(), hub.Command{Entity: vNumber.ID, Action: hub.ActionSet, Principal: "mqtt:x",
			Args: map[string]hub.Value{hub.VirtualValueAttr: hub.Number(20, "")}})
		if !errors.Is(err, hub.ErrForbidden) {
			t.Fatalf("Do(set) by mqtt=%v, want ErrForbidden", err)
		}
		if got := get(t, h, vNumber.ID); !got.Equal(hub.Number(10, "°C")) {
			t.Fatalf("value=%v, want the default", got)
		}
	})

	t.Run("VirtualWithActionsNeedsHandler", func(t *testing.T) {
		h := hub.New(hub.Options{})
		e := hub.Entity{ID: "button.doorbell", Virtual: true, Actions: []hub.ActionSpec{{Name: "press"}}}
		if err := h.Register(e, nil); err == nil {
			t.Fatalf("Register(virtual with actions, no handler)=nil, want an error")
		}
	})
}
