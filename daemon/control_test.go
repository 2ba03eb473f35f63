package daemon

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/sim"
	"github.com/hearth-hub/hearth/sim/i2csim"
	"github.com/hearth-hub/hearth/sim/sensorsim"
	"github.com/hearth-hub/hearth/store"
)

func f64(v float64) *float64 { return &v }

// controlConfig is a house with a thermostat and a lock on the simulated
// parts, with minimum times short enough for a test.
func controlConfig(tb testing.TB) *Config {
	tb.Helper()
	cfg := testConfig(tb)
	cfg.Hardware.Parts = []PartConfig{
		{Name: "living_room", Driver: "sht3x", Bus: "1", Addr: 0x44, Entity: "sensor.living_room"},
		{Name: "heat", Driver: "relay", Pin: sim.LineHeat, Active: "low"},
		{Name: "cool", Driver: "relay", Pin: sim.LineCool, Active: "low"},
		{Name: "fan", Driver: "relay", Pin: sim.LineFan, Active: "low"},
		{Name: "door", Driver: "contact", Pin: sim.LineDoor, Debounce: Duration(5 * time.Millisecond), Entity: "contact.front_door"},
		{Name: "bolt", Driver: "bolt", Pins: BoltPins{Extend: sim.LineBoltExtend, Retract: sim.LineBoltRetract, Extended: sim.LineBoltExtended, Retracted: sim.LineBoltRetracted}, Travel: Duration(3 * time.Second)},
	}
	cfg.Thermostats = []ThermostatConfig{{
		ID: "thermostat.living_room", Sensors: []string{"sensor.living_room"}, Humidity: "sensor.living_room",
		Heat: "heat", Cool: "cool", Fan: "fan", Mode: "off", Target: f64(21),
		CompressorMinOff: Duration(time.Second), CompressorMinOn: Duration(time.Second),
		HeatMinOff: Duration(time.Second), FanOverrun: Duration(time.Second),
	}}
	cfg.Locks = []LockConfig{{ID: "lock.front_door", Bolt: "bolt", Door: "door"}}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	cfg.Hardware.Parts[0].Interval = Duration(20 * time.Millisecond)
	return cfg
}

func set(tb testing.TB, r *running, id string, args map[string]string) {
	tb.Helper()
	raw := map[string]json.RawMessage{}
	for k, v := range args {
		raw[k] = json.RawMessage(v)
	}
	mustCommand(tb, r.client, api.CommandRequest{Entity: id, Action: "set", Args: raw})
}

func text(tb testing.TB, r *running, id, a string) string {
	tb.Helper()
	v, _ := attr(tb, r, id, a)
	return v.String()
}

func TestControl_Thermostat(t *testing.T) {
	r := MustStart(t, controlConfig(t))
	h := house(r)
	// The interlock, watched where it matters: the relays themselves.
	var both atomic.Int32
	check := func(bool) {
		if h.Relays[sim.LineHeat].On() && h.Relays[sim.LineCool].On() {
			both.Add(1)
		}
	}
	h.Relays[sim.LineHeat].OnChange(check)
	h.Relays[sim.LineCool].OnChange(check)
	h.Room.SetTemperature(19)
	const id = "thermostat.living_room"

	set(t, r, id, map[string]string{"mode": `"heat"`, "target": "25"})
	waitFor(t, func() bool { return h.Relays[sim.LineHeat].On() && text(t, r, id, "action") == "heating" })
	if got := text(t, r, id, "reason"); !strings.Contains(got, "25") {
		t.Fatalf("reason %q does not mention the target", got)
	}

	t.Run("a brief sensor failure does not cut a cycle short", func(t *testing.T) {
		// The last reading stays good until stale_after (5 min): a sensor
		// that misses a few readings must not short-cycle the furnace.
		h.Bus.SetFault(sim.AddrSHT3x, i2csim.Fault{NACK: -1})
		waitFor(t, func() bool { e, _ := r.client.Entity(context.Background(), "sensor.living_room"); return !e.Available })
		for range 20 {
			if !h.Relays[sim.LineHeat].On() {
				t.Fatal("heat switched off on a brief sensor failure")
			}
			time.Sleep(10 * time.Millisecond)
		}
		h.Bus.SetFault(sim.AddrSHT3x, i2csim.Fault{})
		waitFor(t, func() bool { _, ok := attr(t, r, "sensor.living_room", "temperature"); return ok })
	})
	t.Run("cool after heat waits and never overlaps", func(t *testing.T) {
		set(t, r, id, map[string]string{"mode": `"cool"`, "target": "15"})
		waitFor(t, func() bool { return h.Relays[sim.LineCool].On() && text(t, r, id, "action") == "cooling" })
		if h.Relays[sim.LineHeat].On() {
			t.Fatal("heat still on while cooling")
		}
	})
	t.Run("a setpoint outside the limits is refused naming the field", func(t *testing.T) {
		_, err := r.client.Command(context.Background(), api.CommandRequest{Entity: id, Action: "set", Args: map[string]json.RawMessage{"target": raw("35")}})
		if ae := apiErr(t, err); ae.Code != api.CodeInvalid || ae.Field != "target" {
			t.Fatalf("target 35: %+v", ae)
		}
	})
	t.Run("switch times are persisted", func(t *testing.T) {
		raw, ok, err := r.d.Store().GetKV(context.Background(), memKey(id))
		if err != nil || !ok || !strings.Contains(raw, "20") {
			t.Fatalf("memory in the store: %q %v %v", raw, ok, err)
		}
	})
	t.Run("a reload applies control settings without a restart", func(t *testing.T) {
		next := *r.d.Config()
		next.Thermostats = slices.Clone(next.Thermostats)
		next.Thermostats[0].CoolDifferential = f64(0.8)
		if err := r.d.Reload(&next); err != nil {
			t.Fatal(err)
		}
		if h := r.d.Health(); len(h.Restart) != 0 {
			t.Fatalf("restart needed for %v", h.Restart)
		}
		if got := r.d.thermos[id].ctrl.Config().CoolDiff; got != 0.8 {
			t.Fatalf("cool differential in force %v, want 0.8", got)
		}
		if !h.Relays[sim.LineCool].On() {
			t.Fatal("a reload stopped the compressor")
		}
		next.Thermostats = slices.Clone(next.Thermostats)
		next.Thermostats[0].Fan = ""
		if err := r.d.Reload(&next); err != nil {
			t.Fatal(err)
		}
		if h := r.d.Health(); !slices.Contains(h.Restart, "thermostats") {
			t.Fatalf("rewiring a thermostat: restart needed for %v, want thermostats", h.Restart)
		}
	})
	t.Run("a steady temperature stays fresh", func(t *testing.T) {
		// The sensor reads the same value again and again: no event, but
		// each reading is fresh, so the thermostat must not think it stale.
		h.SHT3x.SetEnv(sensorsim.Fixed{T: physic.ZeroCelsius + 20*physic.Kelvin, H: 45 * physic.PercentRH})
		var changed time.Time
		waitFor(t, func() bool {
			e, _ := r.client.Entity(context.Background(), "sensor.living_room")
			changed = e.UpdatedAt
			return text(t, r, "sensor.living_room", "temperature") == "20 °C"
		})
		time.Sleep(200 * time.Millisecond) // several readings of the same value
		th := r.d.thermos[id]
		th.mu.Lock()
		rs := th.fresh()
		th.mu.Unlock()
		if len(rs) != 1 {
			t.Fatalf("fresh readings %+v", rs)
		}
		if at := th.start.Add(rs[0].At); !at.After(changed.Add(100 * time.Millisecond)) {
			t.Fatalf("reading stamped %v, when the value last changed (%v): a steady value would go stale", at, changed)
		}
		h.SHT3x.SetEnv(h.Room)
	})
	set(t, r, id, map[string]string{"mode": `"off"`})
	waitFor(t, func() bool { return !h.Relays[sim.LineCool].On() })
	if n := both.Load(); n != 0 {
		t.Fatalf("heat and cool were on together %d times", n)
	}
}

func TestControl_Lock(t *testing.T) {
	r := MustStart(t, controlConfig(t))
	h := house(r)
	ctx := context.Background()
	const id = "lock.front_door"
	do := func(action string) (*api.CommandResponse, error) {
		return r.client.Command(ctx, api.CommandRequest{Entity: id, Action: action})
	}
	if got := text(t, r, id, "state"); got != "unlocked" {
		t.Fatalf("at start: %s, want unlocked (the bolt model starts retracted)", got)
	}

	resp, err := do("lock")
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Committed && resp.State.Attrs["state"].String() != "locked" {
		t.Fatalf("lock: %+v", resp)
	}
	if h.Bolt.Position() < 0.9 {
		t.Fatalf("bolt at %.2f after lock", h.Bolt.Position())
	}
	// The critical audit row is on disk before the answer.
	rows, err := r.d.Store().QueryAudit(ctx, store.AuditQuery{Entity: id})
	if err != nil || len(rows) != 1 || rows[0].Outcome != "ok" || !rows[0].Critical {
		t.Fatalf("audit after lock: %+v %v", rows, err)
	}

	t.Run("door open: refused, the bolt does not move", func(t *testing.T) {
		if _, err := do("unlock"); err != nil {
			t.Fatal(err)
		}
		h.Door.Open()
		waitFor(t, func() bool { return text(t, r, id, "door") == "open" })
		_, err := do("lock")
		if ae := apiErr(t, err); ae.Code != api.CodeFailed || !strings.Contains(ae.Message, "door open") {
			t.Fatalf("lock with the door open: %+v", ae)
		}
		if h.Bolt.Position() > 0.1 {
			t.Fatalf("bolt moved to %.2f with the door open", h.Bolt.Position())
		}
		h.Door.Close()
		waitFor(t, func() bool { return text(t, r, id, "door") == "closed" })
	})
	t.Run("jam: motor off, jammed", func(t *testing.T) {
		h.Bolt.Obstruct(0.5)
		_, err := do("lock")
		if ae := apiErr(t, err); !strings.Contains(ae.Message, "jammed") {
			t.Fatalf("obstructed lock: %+v", ae)
		}
		if h.Bolt.Driving() != 0 {
			t.Fatal("motor still driven after a jam")
		}
		if got := text(t, r, id, "state"); got != "jammed" {
			t.Fatalf("state %s, want jammed", got)
		}
		h.Bolt.ClearObstruction()
		if _, err := do("unlock"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a turn by hand is seen and audited", func(t *testing.T) {
		h.Bolt.SetPosition(1)
		waitFor(t, func() bool { return text(t, r, id, "state") == "locked" })
		waitFor(t, func() bool {
			rows, _ := r.d.Store().QueryAudit(ctx, store.AuditQuery{Entity: id, Principal: "manual"})
			return len(rows) == 1 && rows[0].Action == "lock"
		})
	})
	if n := h.Bolt.Shorts(); n != 0 {
		t.Fatalf("both motor inputs high %d times", n)
	}
}
