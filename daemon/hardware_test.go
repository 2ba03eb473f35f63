package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/hub"
	"github.com/hearth-hub/hearth/sim"
	"github.com/hearth-hub/hearth/sim/i2csim"
	"github.com/hearth-hub/hearth/sim/sensorsim"
)

// hwConfig is testConfig with parts on the simulated house.
func hwConfig(tb testing.TB) *Config {
	tb.Helper()
	cfg := testConfig(tb)
	cfg.Hardware.Parts = []PartConfig{
		{Name: "living_room", Driver: "sht3x", Bus: "1", Addr: 0x44, Entity: "sensor.living_room"},
		{Name: "climate", Driver: "bme280", Bus: "1", Addr: 0x76, Entity: "sensor.climate"},
		{Name: "precise", Driver: "mcp9808", Bus: "1", Addr: 0x18, Entity: "sensor.precise"},
		{Name: "heat", Driver: "relay", Pin: sim.LineHeat, Active: "low", Entity: "switch.heat"},
		{Name: "door", Driver: "contact", Pin: sim.LineDoor, Debounce: Duration(5 * time.Millisecond), Entity: "contact.front_door"},
		{Name: "bolt", Driver: "bolt", Pins: BoltPins{Extend: sim.LineBoltExtend, Retract: sim.LineBoltRetract, Extended: sim.LineBoltExtended, Retracted: sim.LineBoltRetracted}},
		{Name: "hat0", Driver: "mcp23017", Bus: "1", Addr: 0x20},
		{Name: "porch", Driver: "relay", Expander: "hat0", Pin: "2", Entity: "switch.porch"},
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	// Faster than a config may ask, so that the tests need not wait.
	for i := range 3 {
		cfg.Hardware.Parts[i].Interval = Duration(20 * time.Millisecond)
	}
	return cfg
}

func house(r *running) *sim.House { return r.d.be.(*simBackend).House }

func attr(tb testing.TB, r *running, id, name string) (hub.Value, bool) {
	tb.Helper()
	e, err := r.client.Entity(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	v, ok := e.Attrs[name]
	return v, ok && e.Available
}

func TestHardware_Sensors(t *testing.T) {
	r := MustStart(t, hwConfig(t))
	h := house(r)
	h.Room.SetTemperature(21.37)
	for _, tc := range []struct {
		id    string
		attrs []string
	}{
		{"sensor.living_room", []string{"temperature", "humidity"}},
		{"sensor.climate", []string{"temperature", "humidity", "pressure"}},
		{"sensor.precise", []string{"temperature"}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			waitFor(t, func() bool {
				v, ok := attr(t, r, tc.id, "temperature")
				f, _ := v.Float()
				return ok && f > 21.2 && f < 21.6
			})
			e, _ := r.client.Entity(context.Background(), tc.id)
			for _, a := range tc.attrs {
				if _, ok := e.Attrs[a]; !ok {
					t.Fatalf("%s has no %s: %v", tc.id, a, e.Attrs)
				}
			}
			if got, want := len(e.Attrs), len(tc.attrs); got != want {
				t.Fatalf("%s has %d attributes, want %d", tc.id, got, want)
			}
		})
	}

	t.Run("a failing sensor goes unavailable and comes back", func(t *testing.T) {
		h.Bus.SetFault(sim.AddrSHT3x, i2csim.Fault{NACK: -1})
		waitFor(t, func() bool {
			e, _ := r.client.Entity(context.Background(), "sensor.living_room")
			return !e.Available && strings.Contains(e.Error, "no acknowledge")
		})
		h.Bus.SetFault(sim.AddrSHT3x, i2csim.Fault{Corrupt: -1})
		waitFor(t, func() bool {
			e, _ := r.client.Entity(context.Background(), "sensor.living_room")
			return !e.Available && strings.Contains(e.Error, "checksum")
		})
		h.Bus.SetFault(sim.AddrSHT3x, i2csim.Fault{})
		waitFor(t, func() bool { _, ok := attr(t, r, "sensor.living_room", "temperature"); return ok })
	})
	t.Run("a sensor that lost power is set up again", func(t *testing.T) {
		// A fresh chip at the address: it has forgotten its oversampling.
		h.Bus.Detach(sim.AddrBME280)
		fresh := sensorsim.NewBME280(h.Room)
		if err := h.Bus.Attach(sim.AddrBME280, fresh); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { e, _ := r.client.Entity(context.Background(), "sensor.climate"); return !e.Available })
		waitFor(t, func() bool { _, ok := attr(t, r, "sensor.climate", "humidity"); return ok })
	})
	t.Run("an impossible reading is refused", func(t *testing.T) {
		spike := -60.0
		h.Room.Override(&spike)
		waitFor(t, func() bool {
			e, _ := r.client.Entity(context.Background(), "sensor.precise")
			return !e.Available && strings.Contains(e.Error, "implausible")
		})
		h.Room.Override(nil)
		waitFor(t, func() bool { _, ok := attr(t, r, "sensor.precise", "temperature"); return ok })
	})
}

func TestHardware_ContactAndRelays(t *testing.T) {
	r := MustStart(t, hwConfig(t))
	h := house(r)
	if v, ok := attr(t, r, "contact.front_door", "closed"); !ok || !v.BoolValue() {
		t.Fatalf("door starts %v (available %v), want closed", v, ok)
	}
	h.Door.Open()
	waitFor(t, func() bool { v, _ := attr(t, r, "contact.front_door", "closed"); return !v.BoolValue() })
	h.Door.Close()
	waitFor(t, func() bool { v, _ := attr(t, r, "contact.front_door", "closed"); return v.BoolValue() })

	if h.Relays[sim.LineHeat].On() {
		t.Fatal("heat relay on at start: it must start off")
	}
	ctx := context.Background()
	for _, on := range []string{"true", "false", "true"} {
		mustCommand(t, r.client, api.CommandRequest{Entity: "switch.heat", Action: "set", Args: map[string]json.RawMessage{"on": raw(on)}})
		if got := h.Relays[sim.LineHeat].On(); got != (on == "true") {
			t.Fatalf("after on=%s the relay is %v", on, got)
		}
	}
	mustCommand(t, r.client, api.CommandRequest{Entity: "switch.porch", Action: "set", Args: map[string]json.RawMessage{"on": raw("true")}})
	if l, _ := h.Expander.Line(2).Output(); l != true {
		t.Fatal("porch relay on the expander not driven high")
	}
	// A relay that does not switch: read-back fails and the command says so.
	h.Relays[sim.LineHeat].Stick(true)
	h.Line(sim.LineHeat).Stick(gpio.Low)
	_, err := r.client.Command(ctx, api.CommandRequest{Entity: "switch.heat", Action: "set", Args: map[string]json.RawMessage{"on": raw("false")}})
	if ae := apiErr(t, err); ae.Code != api.CodeFailed || !strings.Contains(ae.Message, "read back") {
		t.Fatalf("stuck relay: %+v, want failed saying it does not read back", ae)
	}
	// Shutting down with it stuck would report the failed halt: unstick it.
	h.Line(sim.LineHeat).Unstick()
}

func TestHardware_SafeOnClose(t *testing.T) {
	r := MustStart(t, hwConfig(t))
	h := house(r)
	mustCommand(t, r.client, api.CommandRequest{Entity: "switch.heat", Action: "set", Args: map[string]json.RawMessage{"on": raw("true")}})
	if !h.Relays[sim.LineHeat].On() {
		t.Fatal("heat relay did not switch on")
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if h.Relays[sim.LineHeat].On() {
		t.Fatal("heat relay still on after shutdown: every relay must go to off")
	}
}

func TestHardware_StartupErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		part PartConfig
		want []string
	}{
		{"no chip at the address", PartConfig{Name: "attic", Driver: "sht3x", Bus: "1", Addr: 0x45, Entity: "sensor.attic"}, []string{`part "attic" (sht3x on I2C bus 1 at 0x45, entity sensor.attic)`, "no acknowledge"}},
		{"another chip at the address", PartConfig{Name: "attic", Driver: "bme280", Bus: "1", Addr: 0x77}, []string{`part "attic" (bme280 on I2C bus 1 at 0x77)`}},
		{"unknown bus", PartConfig{Name: "attic", Driver: "mcp9808", Bus: "7", Addr: 0x18}, []string{`part "attic" (mcp9808 on I2C bus 7 at 0x18)`, `"7"`}},
		{"unknown line", PartConfig{Name: "attic", Driver: "relay", Pin: "GPIO99"}, []string{`part "attic" (relay on GPIO99)`, "no GPIO line"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Hardware.Parts = []PartConfig{tc.part}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			_, err := New(cfg, io.Discard)
			if err == nil {
				t.Fatal("New() succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("New()=%v, want it to say %s", err, w)
				}
			}
		})
	}
	t.Run("the store is released after a failed start", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Hardware.Parts = []PartConfig{{Name: "attic", Driver: "sht3x", Bus: "1", Addr: 0x45}}
		if _, err := New(cfg, io.Discard); err == nil {
			t.Fatal("New() succeeded")
		}
		cfg.Hardware.Parts = nil
		d, err := New(cfg, io.Discard)
		if err != nil {
			t.Fatalf("second New()=%v", err)
		}
		if err := d.Close(); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	})
}
