package sensorsim_test

import (
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/drivers/i2cdev"
	"github.com/hearth-hub/hearth/drivers/mcp9808"
	"github.com/hearth-hub/hearth/sim/i2csim"
	"github.com/hearth-hub/hearth/sim/sensorsim"
)

func TestMCP9808_driver(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    physic.Temperature
		res  physic.Temperature
		want physic.Temperature // what the chip's ADC gives
	}{
		{"21.37C", celsius(21370), mcp9808.SixteenthDegree, celsius(21375)},       // nearest sixteenth
		{"minus12.5C", celsius(-12500), mcp9808.SixteenthDegree, celsius(-12500)}, // exact
		{"minus0.04C", celsius(-40), mcp9808.SixteenthDegree, celsius(0) - 62500*physic.MicroKelvin},
		{"21.37CHalf", celsius(21370), mcp9808.HalfDegree, celsius(21000)},       // low bits cleared
		{"minus12.3CHalf", celsius(-12300), mcp9808.HalfDegree, celsius(-12500)}, // toward -∞ in two's complement
		{"minus12.5CQuarter", celsius(-12500), mcp9808.QuarterDegree, celsius(-12500)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chip := sensorsim.NewMCP9808(sensorsim.Fixed{T: tc.t})
			bus, clk := newBus(t, 0x1C, chip)
			d, err := mcp9808.New(bus, &mcp9808.Opts{Addr: 0x1C, Resolution: tc.res, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			e := physic.Env{Humidity: 1}
			if err := d.Sense(&e); err != nil {
				t.Fatal(err)
			}
			// With the limit registers at 0 the alert flags are set for a
			// positive reading; the driver must not read them as degrees.
			if e.Temperature != tc.want || !near(e.Temperature, tc.t, tc.res) || e.Humidity != 1 {
				t.Fatalf("Sense()=%v (humidity %v), want %v", e.Temperature, e.Humidity, tc.want)
			}
		})
	}
}

func TestMCP9808_faults(t *testing.T) {
	env := sensorsim.Fixed{T: celsius(21370)}
	bus, clk := newBus(t, 0x18, sensorsim.NewMCP9808(env))
	d, err := mcp9808.New(bus, &mcp9808.Opts{Addr: 0x18, Resolution: mcp9808.SixteenthDegree, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	bus.SetFault(0x18, i2csim.Fault{NACK: 1})
	if err := d.Sense(&physic.Env{}); !errors.Is(err, i2cdev.ErrNACK) {
		t.Fatalf("Sense() with a NACK=%v, want ErrNACK", err)
	}
	if err := d.Sense(&physic.Env{}); err != nil {
		t.Fatalf("Sense() after the NACK=%v", err)
	}
	// A BME280 at an MCP9808 address: its register 0x06 reads 0.
	bme := sensorsim.NewBME280(env)
	bme.SetClock(clk)
	if err := bus.Attach(0x19, bme); err != nil {
		t.Fatal(err)
	}
	if _, err := mcp9808.New(bus, &mcp9808.Opts{Addr: 0x19, Resolution: mcp9808.SixteenthDegree, Clock: clk}); !errors.Is(err, i2cdev.ErrChipID) {
		t.Fatalf("New() on a BME280=%v, want ErrChipID", err)
	}
}

func TestMCP9808_registers(t *testing.T) {
	chip := sensorsim.NewMCP9808(sensorsim.Fixed{T: celsius(21370)})
	bus, clk := newBus(t, 0x18, chip)
	read16 := func(ptr byte) uint16 {
		b := tx(t, bus, 0x18, []byte{ptr}, 2)
		return uint16(b[0])<<8 | uint16(b[1])
	}

	if got := read16(mcp9808.RegAmbient); got != 0 {
		t.Fatalf("T_A %#04x before the first conversion, want its power-on 0", got)
	}
	clk.Advance(250 * time.Millisecond)
	// 21.375 °C = 342/16 = 0x156; T_A ≥ T_CRIT (0) and > T_UPPER (0).
	if got, want := read16(mcp9808.RegAmbient), uint16(0xC156); got != want {
		t.Fatalf("T_A %#04x, want %#04x", got, want)
	}
	// Limits at 30 °C (upper) and 25 °C (lower): only "below lower" is left.
	tx(t, bus, 0x18, []byte{mcp9808.RegUpper, 0x01, 0xE0}, 0)
	tx(t, bus, 0x18, []byte{mcp9808.RegLower, 0x01, 0x90}, 0)
	tx(t, bus, 0x18, []byte{mcp9808.RegCrit, 0x02, 0x80}, 0)
	if got, want := read16(mcp9808.RegAmbient), uint16(0x2156); got != want {
		t.Fatalf("T_A %#04x with limits set, want %#04x", got, want)
	}

	// The pointer stays; only its low four bits count.
	tx(t, bus, 0x18, []byte{0xF6}, 0)
	for range 2 {
		if b := tx(t, bus, 0x18, nil, 2); b[0] != 0x00 || b[1] != 0x54 {
			t.Fatalf("read at pointer 0x06: % x, want the manufacturer ID", b)
		}
	}
	if got := read16(mcp9808.RegDeviceID); got != 0x0400 {
		t.Fatalf("device ID %#04x", got)
	}
	tx(t, bus, 0x18, []byte{mcp9808.RegResolution, 0x00}, 0)
	if b := tx(t, bus, 0x18, []byte{mcp9808.RegResolution}, 1); b[0] != 0x00 {
		t.Fatalf("resolution %#02x", b[0])
	}

	// Shutdown holds T_A; waking restarts conversions.
	tx(t, bus, 0x18, []byte{mcp9808.RegConfig, 0x01, 0x00}, 0)
	chip.SetEnv(sensorsim.Fixed{T: celsius(-12500)})
	clk.Advance(time.Second)
	if got := read16(mcp9808.RegAmbient) & 0x1FFF; got != 0x156 {
		t.Fatalf("T_A %#04x in shutdown, want the held 0x156", got)
	}
	tx(t, bus, 0x18, []byte{mcp9808.RegConfig, 0x00, 0x00}, 0)
	clk.Advance(30 * time.Millisecond) // a conversion at 0.5 °C
	if got := read16(mcp9808.RegAmbient) & 0x1FFF; got != 0x1F38 {
		t.Fatalf("T_A %#04x after waking, want -12.5 °C (0x1F38)", got)
	}
}
