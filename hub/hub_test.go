package hub_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/hub"
)

const living = hub.ID("thermostat.living_room")

func TestHub_Register(t *testing.T) {
	t.Run("Snapshot", func(t *testing.T) {
		clk := newFakeClock()
		h := hub.New(hub.Options{Now: clk.Now})
		sub := h.Bus().Subscribe("test", 16, nil)
		mustRegister(t, h, thermostatEntity(living, &recHandler{}), map[string]hub.Value{
			"mode":    hub.Enum("heat"),
			"current": hub.Number(19.5, ""), // the unit comes from the schema
		})
		s, ok := h.Get(living)
		if !ok {
			t.Fatalf("Get(%s) ok=false", living)
		}
		if got, want := s.Name, "Living room"; got != want {
			t.Fatalf("Name=%q, want %q", got, want)
		}
		if !s.Available {
			t.Fatalf("Available=false, want true")
		}
		if got, want := s.Attrs["current"], hub.Number(19.5, "°C"); !got.Equal(want) {
			t.Fatalf("Attrs[current]=%v, want %v", got, want)
		}
		if got, want := s.Attrs["mode"], hub.Enum("heat"); !got.Equal(want) {
			t.Fatalf("Attrs[mode]=%v, want %v", got, want)
		}
		if _, ok := s.Attrs["target"]; ok {
			t.Fatalf("Attrs[target] is set, want it empty until updated")
		}
		if got, want := s.UpdatedAt, clk.Now(); !got.Equal(want) {
			t.Fatalf("UpdatedAt=%v, want %v", got, want)
		}
		if got, want := len(s.Schema), 5; got != want {
			t.Fatalf("len(Schema)=%d, want %d", got, want)
		}
		var names []string
		for _, a := range s.Actions {
			names = append(names, a.Name)
		}
		if got, want := strings.Join(names, ","), "boost,set"; got != want {
			t.Fatalf("Actions=%s, want %s", got, want)
		}
		set := s.Actions[1]
		if got, want := len(set.Args), 2; got != want {
			t.Fatalf("len(set.Args)=%d, want %d (the writable attributes)", got, want)
		}
		if got, want := len(drainAll(t, sub)), 0; got != want {
			t.Fatalf("events after Register=%d, want %d", got, want)
		}
	})

	t.Run("NameDefaultsToID", func(t *testing.T) {
		h := hub.New(hub.Options{})
		mustRegister(t, h, hub.Entity{ID: "sensor.hall", Attrs: []hub.AttrSpec{{Name: "t", Type: hub.TypeNumber}}}, nil)
		s, _ := h.Get("sensor.hall")
		if got, want := s.Name, "sensor.hall"; got != want {
			t.Fatalf("Name=%q, want %q", got, want)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		num := hub.AttrSpec{Name: "t", Type: hub.TypeNumber}
		for _, tt := range []struct {
			name    string
			e       hub.Entity
			initial map[string]hub.Value
			wantErr string
		}{
			{"BadID", hub.Entity{ID: "Sensor.hall"}, nil, "entity id"},
			{"ActionsWithoutHandler", hub.Entity{ID: "lock.x", Actions: []hub.ActionSpec{{Name: "lock"}}}, nil, "no handler"},
			{"WritableWithoutHandler", hub.Entity{ID: "light.x", Attrs: []hub.AttrSpec{{Name: "on", Type: hub.TypeBool, Writable: true}}}, nil, "no handler"},
			{"NoType", hub.Entity{ID: "sensor.x", Attrs: []hub.AttrSpec{{Name: "t"}}}, nil, "no type"},
			{"BadAttrName", hub.Entity{ID: "sensor.x", Attrs: []hub.AttrSpec{{Name: "T", Type: hub.TypeNumber}}}, nil, `"T"`},
			{"EnumWithoutOptions", hub.Entity{ID: "sensor.x", Attrs: []hub.AttrSpec{{Name: "m", Type: hub.TypeEnum}}}, nil, "without options"},
			{"MinAboveMax", hub.Entity{ID: "sensor.x", Attrs: []hub.AttrSpec{{Name: "t", Type: hub.TypeNumber, Ranged: true, Min: 2, Max: 1}}}, nil, "above max"},
			{"DuplicateAttr", hub.Entity{ID: "sensor.x", Attrs: []hub.AttrSpec{num, num}}, nil, "declared twice"},
			{"DuplicateAction", hub.Entity{ID: "lock.x", Actions: []hub.ActionSpec{{Name: "lock"}, {Name: "lock"}}, Handler: &recHandler{}}, nil, "declared twice"},
			{"SetShadowsWritable", hub.Entity{ID: "light.x", Attrs: []hub.AttrSpec{{Name: "on", Type: hub.TypeBool, Writable: true}}, Actions: []hub.ActionSpec{{Name: "set"}}, Handler: &recHandler{}}, nil, "declared twice"},
			{"InitialUnknownAttr", hub.Entity{ID: "sensor.x", Attrs: []hub.AttrSpec{num}}, map[string]hub.Value{"u": hub.Number(1, "")}, `unknown attribute "u"`},
			{"InitialWrongType", hub.Entity{ID: "sensor.x", Attrs: []hub.AttrSpec{num}}, map[string]hub.Value{"t": hub.String("1")}, "initial value is string, want number"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				h := hub.New(hub.Options{})
				err := h.Register(tt.e, tt.initial)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Register()=%v, want error containing %q", err, tt.wantErr)
				}
				if _, ok := h.Get(tt.e.ID); ok {
					t.Fatalf("Get(%s) ok=true after a failed Register", tt.e.ID)
				}
			})
		}
	})

	t.Run("Duplicate", func(t *testing.T) {
		h := hub.New(hub.Options{})
		mustRegister(t, h, thermostatEntity(living, &recHandler{}), nil)
		if err := h.Register(thermostatEntity(living, &recHandler{}), nil); err == nil {
			t.Fatalf("second Register()=nil, want an error")
		}
	})

	t.Run("CallerKeepsItsSlices", func(t *testing.T) {
		h := hub.New(hub.Options{})
		e := thermostatEntity(living, &recHandler{})
		mustRegister(t, h, e, nil)
		// The caller's copies, not the hub's:
		e.Attrs[1].Max = 100
		e.Attrs[0].Options[0] = "auto"
		e.Actions[0].Args[0].Max = 1000
		for _, c := range []hub.Command{
			{Entity: living, Action: "set", Args: map[string]hub.Value{"target": hub.Number(50, "")}},
			{Entity: living, Action: "set", Args: map[string]hub.Value{"mode": hub.Enum("auto")}},
			{Entity: living, Action: "boost", Args: map[string]hub.Value{"minutes": hub.Number(500, "")}},
		} {
			c.Principal = hub.Owner
			if _, err := h.Do(t.Context(), c); !errors.Is(err, hub.ErrInvalid) {
				t.Fatalf("Do(%s %v)=%v, want ErrInvalid", c.Action, c.Args, err)
			}
		}
	})

	t.Run("SnapshotIsACopy", func(t *testing.T) {
		h := hub.New(hub.Options{})
		mustRegister(t, h, thermostatEntity(living, &recHandler{}), map[string]hub.Value{"mode": hub.Enum("heat")})
		s, _ := h.Get(living)
		s.Attrs["mode"] = hub.Enum("cool")
		s.Schema[1].Max = 100
		s.Schema[0].Options[0] = "x"
		for i := range s.Actions {
			for j := range s.Actions[i].Args {
				s.Actions[i].Args[j].Max = 100
				s.Actions[i].Args[j].Options = nil
			}
		}
		s2, _ := h.Get(living)
		if got, want := s2.Attrs["mode"], hub.Enum("heat"); !got.Equal(want) {
			t.Fatalf("Attrs[mode]=%v, want %v", got, want)
		}
		if got, want := s2.Schema[1].Max, 30.0; got != want {
			t.Fatalf("Schema[1].Max=%v, want %v", got, want)
		}
		if got, want := s2.Schema[0].Options[0], "off"; got != want {
			t.Fatalf("Schema[0].Options[0]=%v, want %v", got, want)
		}
		for _, args := range []map[string]hub.Value{
			{"target": hub.Number(50, "")},
			{"mode": hub.Enum("auto")},
		} {
			_, err := h.Do(t.Context(), hub.Command{Entity: living, Action: "set", Args: args, Principal: hub.Owner})
			if !errors.Is(err, hub.ErrInvalid) {
				t.Fatalf("Do(set %v) after editing a snapshot=%v, want ErrInvalid", args, err)
			}
		}
	})
}

func TestHub_Unregister(t *testing.T) {
	h := hub.New(hub.Options{})
	mustRegister(t, h, thermostatEntity(living, &recHandler{}), nil)
	if err := h.Unregister(living); err != nil {
		t.Fatalf("Unregister()=%v", err)
	}
	if _, ok := h.Get(living); ok {
		t.Fatalf("Get() ok=true after Unregister")
	}
	if err := h.Unregister(living); !errors.Is(err, hub.ErrUnknownEntity) {
		t.Fatalf("second Unregister()=%v, want ErrUnknownEntity", err)
	}
	if _, err := h.Update(living, "hardware", "", map[string]hub.Value{"current": hub.Number(1, "")}); !errors.Is(err, hub.ErrUnknownEntity) {
		t.Fatalf("Update() after Unregister=%v, want ErrUnknownEntity", err)
	}
	// The ID is free again.
	mustRegister(t, h, thermostatEntity(living, &recHandler{}), nil)
}

func TestHub_Entities(t *testing.T) {
	h := hub.New(hub.Options{})
	for _, id := range []hub.ID{"sensor.b", "contact.z", "sensor.a", "thermostat.a"} {
		mustRegister(t, h, hub.Entity{ID: id, Attrs: []hub.AttrSpec{{Name: "v", Type: hub.TypeNumber}}}, nil)
	}
	var ids []string
	for _, s := range h.Entities() {
		ids = append(ids, string(s.ID))
	}
	if got, want := strings.Join(ids, " "), "contact.z sensor.a sensor.b thermostat.a"; got != want {
		t.Fatalf("Entities()=%s, want %s", got, want)
	}
}

func TestHub_Update(t *testing.T) {
	setup := func(t *testing.T, opts hub.Options) (*hub.Hub, *hub.Subscription) {
		h := hub.New(opts)
		mustRegister(t, h, thermostatEntity(living, &recHandler{}), map[string]hub.Value{
			"mode": hub.Enum("heat"), "target": hub.Number(20, "°C"), "current": hub.Number(19, "°C"),
		})
		return h, h.Bus().Subscribe("test", 64, nil)
	}

	t.Run("OneEventWithTheChangesSorted", func(t *testing.T) {
		clk := newFakeClock()
		h, sub := setup(t, hub.Options{Now: clk.Now})
		clk.Add(time.Minute)
		seq, err := h.Update(living, "hardware", "rule:heat", map[string]hub.Value{
			"target":   hub.Number(20, "°C"), // unchanged
			"mode":     hub.Enum("heat"),     // unchanged
			"humidity": hub.Number(45, ""),   // new
			"current":  hub.Number(19.5, ""), // changed
			"away":     hub.Bool(false),      // new
		})
		if err != nil {
			t.Fatalf("Update()=%v", err)
		}
		evs := drainAll(t, sub)
		if got, want := len(evs), 1; got != want {
			t.Fatalf("events=%d, want %d", got, want)
		}
		ev := evs[0]
		if got, want := ev.Seq, seq; got != want {
			t.Fatalf("Event.Seq=%d, want %d (Update's result)", got, want)
		}
		if got, want := ev.Entity, living; got != want {
			t.Fatalf("Event.Entity=%s, want %s", got, want)
		}
		if got, want := ev.Source, "hardware"; got != want {
			t.Fatalf("Event.Source=%q, want %q", got, want)
		}
		if got, want := ev.Cause, hub.Principal("rule:heat"); got != want {
			t.Fatalf("Event.Cause=%q, want %q", got, want)
		}
		if got, want := ev.At, clk.Now(); !got.Equal(want) {
			t.Fatalf("Event.At=%v, want %v", got, want)
		}
		want := []hub.Change{
			{Attr: "away", Old: hub.Value{}, New: hub.Bool(false)},
			{Attr: "current", Old: hub.Number(19, "°C"), New: hub.Number(19.5, "°C")},
			{Attr: "humidity", Old: hub.Value{}, New: hub.Number(45, "%")},
		}
		if got := fmt.Sprint(ev.Changes); got != fmt.Sprint(want) {
			t.Fatalf("Event.Changes=%v, want %v", got, want)
		}
		for i := range want {
			if c := ev.Changes[i]; c.Attr != want[i].Attr || !c.Old.Equal(want[i].Old) || !c.New.Equal(want[i].New) {
				t.Fatalf("Changes[%d]=%+v, want %+v", i, c, want[i])
			}
		}
		s, _ := h.Get(living)
		if got, want := s.Attrs["current"], hub.Number(19.5, "°C"); !got.Equal(want) {
			t.Fatalf("Attrs[current]=%v, want %v", got, want)
		}
		if got, want := s.UpdatedAt, clk.Now(); !got.Equal(want) {
			t.Fatalf("UpdatedAt=%v, want %v", got, want)
		}
	})

	t.Run("NoEventWhenNothingChanged", func(t *testing.T) {
		h, sub := setup(t, hub.Options{})
		before := h.Seq()
		for _, attrs := range []map[string]hub.Value{
			{"target": hub.Number(20, "°C"), "mode": hub.Enum("heat")},
			{"current": hub.Number(19, "")}, // the same, once the unit is filled in
			{},
			nil,
		} {
			seq, err := h.Update(living, "hardware", "", attrs)
			if err != nil {
				t.Fatalf("Update(%v)=%v", attrs, err)
			}
			if got, want := seq, uint64(0); got != want {
				t.Fatalf("Update(%v)=%d, want %d", attrs, got, want)
			}
		}
		if got, want := len(drainAll(t, sub)), 0; got != want {
			t.Fatalf("events=%d, want %d", got, want)
		}
		if got, want := h.Seq(), before; got != want {
			t.Fatalf("Seq()=%d, want %d", got, want)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		h, sub := setup(t, hub.Options{})
		for _, tt := range []struct {
			name    string
			attrs   map[string]hub.Value
			wantErr string
		}{
			{"TypeMismatch", map[string]hub.Value{"current": hub.String("20")}, `"current": got string, want number`},
			{"InvalidValue", map[string]hub.Value{"current": {}}, `"current": got invalid, want number`},
			{"UnknownAttr", map[string]hub.Value{"colour": hub.String("red")}, `unknown attribute "colour"`},
			{"OneBadOneGood", map[string]hub.Value{"current": hub.Number(25, ""), "mode": hub.Bool(true)}, `"mode"`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				seq, err := h.Update(living, "hardware", "", tt.attrs)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Update()=%d,%v, want error containing %q", seq, err, tt.wantErr)
				}
			})
		}
		if got, want := len(drainAll(t, sub)), 0; got != want {
			t.Fatalf("events after failed updates=%d, want %d", got, want)
		}
		s, _ := h.Get(living)
		if got, want := s.Attrs["current"], hub.Number(19, "°C"); !got.Equal(want) {
			t.Fatalf("Attrs[current]=%v, want %v: a failed Update must change nothing", got, want)
		}
		if _, err := h.Update("sensor.nope", "hardware", "", map[string]hub.Value{"x": hub.Bool(true)}); !errors.Is(err, hub.ErrUnknownEntity) {
			t.Fatalf("Update(unknown)=%v, want ErrUnknownEntity", err)
		}
	})

	t.Run("NonFinite", func(t *testing.T) {
		// A NaN in the state would make every JSON of the entity fail.
		h, sub := setup(t, hub.Options{})
		for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			if _, err := h.Update(living, "hardware", "", map[string]hub.Value{"current": hub.Number(f, "")}); err == nil {
				t.Fatalf("Update(current=%v)=nil error, want one", f)
			}
		}
		if got, want := len(drainAll(t, sub)), 0; got != want {
			t.Fatalf("events=%d, want %d", got, want)
		}
		s, _ := h.Get(living)
		if _, err := json.Marshal(s); err != nil {
			t.Fatalf("Marshal(snapshot)=%v", err)
		}
		err := hub.New(hub.Options{}).Register(thermostatEntity(living, &recHandler{}), map[string]hub.Value{"current": hub.Number(math.NaN(), "")})
		if err == nil {
			t.Fatalf("Register(current=NaN)=nil error, want one")
		}
	})

	t.Run("RangesNotEnforced", func(t *testing.T) {
		h, _ := setup(t, hub.Options{})
		if _, err := h.Update(living, "hardware", "", map[string]hub.Value{"target": hub.Number(99, "")}); err != nil {
			t.Fatalf("Update(target=99)=%v, want a reading accepted as it is", err)
		}
	})

	t.Run("SeqStrictlyIncreasing", func(t *testing.T) {
		h, sub := setup(t, hub.Options{})
		var last uint64
		for i := range 20 {
			seq, err := h.Update(living, "hardware", "", map[string]hub.Value{"current": hub.Number(float64(i), "")})
			if err != nil {
				t.Fatal(err)
			}
			if seq <= last {
				t.Fatalf("Update #%d seq=%d, want > %d", i, seq, last)
			}
			if got, want := h.Seq(), seq; got != want {
				t.Fatalf("Seq()=%d, want %d", got, want)
			}
			last = seq
		}
		if got, want := drainAll(t, sub)[0].Seq, uint64(1); got != want {
			t.Fatalf("first Seq=%d, want %d", got, want)
		}
	})

	t.Run("FirstSeq", func(t *testing.T) {
		h, sub := setup(t, hub.Options{FirstSeq: 1000})
		if got, want := h.Seq(), uint64(999); got != want {
			t.Fatalf("Seq() before any event=%d, want %d", got, want)
		}
		for i := range 3 {
			if _, err := h.Update(living, "hardware", "", map[string]hub.Value{"current": hub.Number(float64(i), "")}); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.SetAvailable(living, "hardware", errors.New("gone")); err != nil {
			t.Fatal(err)
		}
		var seqs []string
		for _, ev := range drainAll(t, sub) {
			seqs = append(seqs, fmt.Sprint(ev.Seq))
		}
		if got, want := strings.Join(seqs, " "), "1000 1001 1002 1003"; got != want {
			t.Fatalf("seqs=%s, want %s", got, want)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		h := hub.New(hub.Options{})
		const n, per = 8, 200
		for i := range n {
			mustRegister(t, h, hub.Entity{ID: hub.ID(fmt.Sprintf("sensor.s%d", i)), Attrs: []hub.AttrSpec{{Name: "v", Type: hub.TypeNumber}}}, nil)
		}
		sub := h.Bus().Subscribe("test", n*per, nil)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				id := hub.ID(fmt.Sprintf("sensor.s%d", i))
				for j := range per {
					if _, err := h.Update(id, "hardware", "", map[string]hub.Value{"v": hub.Number(float64(j+1), "")}); err != nil {
						t.Error(err)
						return
					}
					h.Get(id)
				}
			})
		}
		wg.Wait()
		evs := drainAll(t, sub)
		if got, want := len(evs), n*per; got != want {
			t.Fatalf("events=%d, want %d", got, want)
		}
		for i, ev := range evs {
			if got, want := ev.Seq, uint64(i+1); got != want {
				t.Fatalf("event %d Seq=%d, want %d: the bus must see events in Seq order", i, got, want)
			}
		}
	})
}

func TestHub_SetAvailable(t *testing.T) {
	h := hub.New(hub.Options{})
	mustRegister(t, h, thermostatEntity(living, &recHandler{}), nil)
	sub := h.Bus().Subscribe("test", 16, nil)

	check := func(t *testing.T, wantOld, wantNew bool, wantErr string) {
		t.Helper()
		evs := drainAll(t, sub)
		if got, want := len(evs), 1; got != want {
			t.Fatalf("events=%d, want %d", got, want)
		}
		if got, want := len(evs[0].Changes), 1; got != want {
			t.Fatalf("changes=%d, want %d", got, want)
		}
		c := evs[0].Changes[0]
		if got, want := c.Attr, "available"; got != want {
			t.Fatalf("Attr=%q, want %q", got, want)
		}
		if !c.Old.Equal(hub.Bool(wantOld)) || !c.New.Equal(hub.Bool(wantNew)) {
			t.Fatalf("change=%v->%v, want %v->%v", c.Old, c.New, wantOld, wantNew)
		}
		if got, want := evs[0].Source, "hardware"; got != want {
			t.Fatalf("Source=%q, want %q", got, want)
		}
		s, _ := h.Get(living)
		if got, want := s.Available, wantNew; got != want {
			t.Fatalf("Available=%v, want %v", got, want)
		}
		if got, want := s.Error, wantErr; got != want {
			t.Fatalf("Error=%q, want %q", got, want)
		}
	}

	t.Run("Unavailable", func(t *testing.T) {
		if err := h.SetAvailable(living, "hardware", errors.New("i2c: nack")); err != nil {
			t.Fatal(err)
		}
		check(t, true, false, "i2c: nack")
	})
	t.Run("SameAgainNoEvent", func(t *testing.T) {
		if err := h.SetAvailable(living, "hardware", errors.New("i2c: nack")); err != nil {
			t.Fatal(err)
		}
		if got, want := len(drainAll(t, sub)), 0; got != want {
			t.Fatalf("events=%d, want %d", got, want)
		}
	})
	t.Run("Available", func(t *testing.T) {
		if err := h.SetAvailable(living, "hardware", nil); err != nil {
			t.Fatal(err)
		}
		check(t, false, true, "")
		if err := h.SetAvailable(living, "hardware", nil); err != nil {
			t.Fatal(err)
		}
		if got, want := len(drainAll(t, sub)), 0; got != want {
			t.Fatalf("events=%d, want %d", got, want)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		if err := h.SetAvailable("sensor.nope", "hardware", nil); !errors.Is(err, hub.ErrUnknownEntity) {
			t.Fatalf("SetAvailable(unknown)=%v, want ErrUnknownEntity", err)
		}
	})
}
