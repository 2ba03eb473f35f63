package sensorsim_test

import (
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/drivers/i2cdev"
	"github.com/hearth-hub/hearth/drivers/sht3x"
	"github.com/hearth-hub/hearth/sim/i2csim"
	"github.com/hearth-hub/hearth/sim/sensorsim"
)

func TestSHT3x_driver(t *testing.T) {
	// Half a step of the 16-bit words: the rounding of the conversion.
	const tolT = 175 * physic.Kelvin / 65535 / 2
	const tolH = 100 * physic.PercentRH / 65535 / 2
	for _, tc := range []struct {
		name string
		env  sensorsim.Fixed
		rep  sht3x.Repeatability
	}{
		{"21.37C", sensorsim.Fixed{T: celsius(21370), H: 45 * physic.PercentRH}, sht3x.High},
		{"21.37CLow", sensorsim.Fixed{T: celsius(21370), H: 45 * physic.PercentRH}, sht3x.Low},
		{"minus12.5C", sensorsim.Fixed{T: celsius(-12500), H: 80 * physic.PercentRH}, sht3x.Medium},
		{"dry", sensorsim.Fixed{T: celsius(-40000), H: 0}, sht3x.High},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chip := sensorsim.NewSHT3x(tc.env)
			bus, clk := newBus(t, 0x44, chip)
			chip.SetEnv(sensorsim.Fixed{T: celsius(30000), H: 10 * physic.PercentRH}) // overridden before Sense
			d, err := sht3x.New(bus, &sht3x.Opts{Addr: 0x44, Repeatability: tc.rep, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			if got := chip.Status(); got&sht3x.StatusHeaterOn != 0 || got&sht3x.StatusReset == 0 {
				t.Fatalf("status %#04x after New, want heater off and the reset flag", got)
			}
			chip.SetEnv(tc.env)
			var e physic.Env
			if err := d.Sense(&e); err != nil {
				t.Fatal(err)
			}
			if !near(e.Temperature, tc.env.T, tolT) || !near(e.Humidity, tc.env.H, tolH) {
				t.Fatalf("Sense()=%v %v, want %v %v", e.Temperature, e.Humidity, tc.env.T, tc.env.H)
			}
		})
	}
}

func TestSHT3x_faults(t *testing.T) {
	env := sensorsim.Fixed{T: celsius(21370), H: 45 * physic.PercentRH}
	bus, clk := newBus(t, 0x44, sensorsim.NewSHT3x(env))
	d, err := sht3x.New(bus, &sht3x.Opts{Addr: 0x44, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	bus.SetFault(0x44, i2csim.Fault{Corrupt: 1})
	if err := d.Sense(&physic.Env{}); !errors.Is(err, i2cdev.ErrCRC) {
		t.Fatalf("Sense() with a corrupted read=%v, want ErrCRC", err)
	}
	bus.SetFault(0x44, i2csim.Fault{NACK: 1})
	if err := d.Sense(&physic.Env{}); !errors.Is(err, i2cdev.ErrNACK) {
		t.Fatalf("Sense() with a NACK=%v, want ErrNACK", err)
	}
	var e physic.Env
	if err := d.Sense(&e); err != nil || !near(e.Temperature, env.T, 2*physic.MilliKelvin) {
		t.Fatalf("Sense() after the faults=%v, %v", e.Temperature, err)
	}
	if _, err := sht3x.New(bus, &sht3x.Opts{Addr: 0x45, Clock: clk}); !errors.Is(err, i2cdev.ErrNACK) {
		t.Fatalf("New() with nothing at 0x45=%v, want ErrNACK", err)
	}
}

// nacks checks that the chip refuses a transaction.
func nacks(t *testing.T, bus *i2csim.Bus, w []byte, n int, why string) {
	t.Helper()
	if err := bus.Tx(0x44, w, make([]byte, n)); !i2cdev.IsNACK(err) {
		t.Fatalf("%s: Tx(% x, %d)=%v, want a NACK", why, w, n, err)
	}
}

func status(t *testing.T, bus *i2csim.Bus) uint16 {
	t.Helper()
	tx(t, bus, 0x44, []byte{0xF3, 0x2D}, 0)
	b := tx(t, bus, 0x44, nil, 3)
	if sht3x.CRC8(b[:2]) != b[2] {
		t.Fatalf("status % x: bad CRC", b)
	}
	return uint16(b[0])<<8 | uint16(b[1])
}

func TestSHT3x_protocol(t *testing.T) {
	chip := sensorsim.NewSHT3x(sensorsim.Fixed{T: celsius(25000), H: 40 * physic.PercentRH})
	bus, clk := newBus(t, 0x44, chip)

	nacks(t, bus, nil, 6, "nothing pending")

	// Without clock stretching: refused until the 15 ms are over (Table 4).
	tx(t, bus, 0x44, []byte{0x24, 0x00}, 0)
	nacks(t, bus, nil, 6, "read at once")
	clk.Advance(15*time.Millisecond - time.Microsecond)
	nacks(t, bus, nil, 6, "read 1 µs early")
	nacks(t, bus, []byte{0xF3, 0x2D}, 0, "command while measuring")
	clk.Advance(time.Microsecond)
	// 25 °C and 40 %RH are both 0x6666 (CRC 0x93); past the data the bus reads ones.
	if got, want := tx(t, bus, 0x44, nil, 7), []byte{0x66, 0x66, 0x93, 0x66, 0x66, 0x93, 0xFF}; string(got) != string(want) {
		t.Fatalf("measurement % x, want % x", got, want)
	}
	nacks(t, bus, nil, 6, "data already read")

	// With clock stretching the read waits, holding the bus.
	tx(t, bus, 0x44, []byte{0x2C, 0x10}, 0)
	start := clk.Now()
	if got := tx(t, bus, 0x44, nil, 2); got[0] != 0x66 || got[1] != 0x66 {
		t.Fatalf("stretched read % x", got)
	}
	if got := clk.Since(start); got != 4*time.Millisecond {
		t.Fatalf("stretched read held the bus %v, want 4 ms", got)
	}

	if got, want := status(t, bus), sht3x.StatusAlertPending|sht3x.StatusReset; got != want {
		t.Fatalf("power-up status %#04x, want %#04x", got, want)
	}
	tx(t, bus, 0x44, []byte{0x30, 0x6D}, 0)
	if got := status(t, bus); got&sht3x.StatusHeaterOn == 0 {
		t.Fatalf("status %#04x after heater on", got)
	}
	tx(t, bus, 0x44, []byte{0x30, 0x41}, 0)
	if got, want := status(t, bus), sht3x.StatusHeaterOn; got != want {
		t.Fatalf("status %#04x after clear, want %#04x", got, want)
	}
	tx(t, bus, 0x44, []byte{0x12, 0x34}, 0)
	if got := status(t, bus); got&sht3x.StatusCommandFailed == 0 {
		t.Fatalf("status %#04x after an invalid command", got)
	}
	tx(t, bus, 0x44, []byte{0x30, 0x66}, 0)
	if got, want := status(t, bus), uint16(0); got != want {
		t.Fatalf("status %#04x after heater off, want %#04x", got, want)
	}

	tx(t, bus, 0x44, []byte{0x30, 0xA2}, 0)
	nacks(t, bus, []byte{0xF3, 0x2D}, 0, "during the soft reset")
	clk.Advance(sht3x.SoftResetTime)
	if got, want := status(t, bus), sht3x.StatusAlertPending|sht3x.StatusReset; got != want {
		t.Fatalf("status %#04x after soft reset, want %#04x", got, want)
	}
}
