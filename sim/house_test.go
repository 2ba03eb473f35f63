package sim

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/drivers/relay"
	"github.com/hearth-hub/hearth/drivers/sht3x"
)

func TestHouse_Run(t *testing.T) {
	clock := clockwork.NewFakeClock()
	h, err := New(Options{Clock: clock, Speed: 60, Outside: 5, Room: 21})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// One minute of the clock at speed 60 is an hour of the room.
	for range 600 {
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(100 * time.Millisecond)
	}
	// The house catches up with the clock at its next tick, however many
	// ticks it missed: time is never lost, only stepped in bigger pieces.
	want := 5 + 16*math.Exp(-DefaultRoomParams().Loss/DefaultRoomParams().Capacity*3600)
	deadline := time.Now().Add(10 * time.Second)
	for math.Abs(h.Room.Celsius()-want) > 0.005 {
		if time.Now().After(deadline) {
			t.Fatalf("after an hour at speed 60: %.3f °C, want %.3f", h.Room.Celsius(), want)
		}
		time.Sleep(time.Millisecond)
	}
	// And it does not run ahead of the clock either.
	time.Sleep(20 * time.Millisecond)
	if got := h.Room.Celsius(); math.Abs(got-want) > 0.005 {
		t.Fatalf("the room ran on to %.3f °C with the clock stopped", got)
	}
}

// TestHouse_Wiring drives the house through the real drivers: the heat
// relay on its line warms the room, which the SHT3x on the bus reports.
func TestHouse_Wiring(t *testing.T) {
	h, err := New(Options{Outside: 5, Room: 18})
	if err != nil {
		t.Fatal(err)
	}
	pin, err := h.Pin(LineHeat)
	if err != nil {
		t.Fatal(err)
	}
	heat, err := relay.New(pin, &relay.Opts{ActiveLow: true, ReadBack: true})
	if err != nil {
		t.Fatal(err)
	}
	if h.Relays[LineHeat].On() {
		t.Fatal("heat relay on after relay.New")
	}
	if err := heat.Set(true); err != nil {
		t.Fatal(err)
	}
	if l, _ := h.Line(LineHeat).Output(); l != gpio.Low || !h.Relays[LineHeat].On() {
		t.Fatal("active-low heat relay not energised by a low line")
	}
	h.Step(2 * time.Hour)
	if c := h.Room.Celsius(); c < 19.5 {
		t.Fatalf("two hours of heating took the room from 18 to %.2f °C", c)
	}
	bus, err := h.I2C(BusName)
	if err != nil {
		t.Fatal(err)
	}
	o := sht3x.DefaultOpts()
	dev, err := sht3x.New(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	var e physic.Env
	if err := dev.Sense(&e); err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(e.Temperature.Celsius() - h.Room.Celsius()); d > 0.1 {
		t.Fatalf("SHT3x reads %.2f °C in a %.2f °C room", e.Temperature.Celsius(), h.Room.Celsius())
	}
	if _, err := h.I2C("0"); err == nil {
		t.Fatal("bus 0 exists in the simulated house")
	}
	if _, err := h.Pin("GPIO40"); err == nil {
		t.Fatal("GPIO40 exists in the simulated house")
	}
}
