package sht3x_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/drivers/i2cdev"
	"github.com/hearth-hub/hearth/drivers/sht3x"
	"github.com/hearth-hub/hearth/sim/i2csim"
	"github.com/hearth-hub/hearth/sim/sensorsim"
)

// The transactions of New on a chip fresh from reset, from the datasheet:
// soft reset 0x30A2 (4.9), read status 0xF32D (4.11 Table 17) answering
// the power-up default 0x8010 (Table 18: alert pending, reset detected)
// and its CRC 0xE1 (4.12 Table 20), heater off 0x3066 (4.10).
func newOps(addr uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: addr, W: []byte{0x30, 0xA2}},
		{Addr: addr, W: []byte{0xF3, 0x2D}},
		{Addr: addr, R: []byte{0x80, 0x10, 0xE1}},
		{Addr: addr, W: []byte{0x30, 0x66}},
	}
}

func mustClose(t *testing.T, p *i2ctest.Playback) {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCRC8(t *testing.T) {
	// Datasheet 4.12 Table 20: CRC (0xBEEF) = 0x92.
	if got, want := sht3x.CRC8([]byte{0xBE, 0xEF}), byte(0x92); got != want {
		t.Fatalf("CRC8(0xBEEF)=%#02x, want %#02x", got, want)
	}
}

func TestNew_invalidOpts(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts sht3x.Opts
		want string
	}{
		{"address", sht3x.Opts{Addr: 0x40}, "0x44 or 0x45"},
		{"repeatability", sht3x.Opts{Addr: 0x44, Repeatability: 3}, "repeatability"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &i2ctest.Playback{DontPanic: true} // no Ops: any traffic fails Close
			if _, err := sht3x.New(p, &tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New()=%v, want an error about %q", err, tc.want)
			}
			mustClose(t, p)
		})
	}
	if _, err := sht3x.New(nil, nil); err == nil {
		t.Fatal("New(nil bus) succeeded")
	}
}

func TestDev_Sense(t *testing.T) {
	for _, tc := range []struct {
		name  string
		addr  uint16
		rep   sht3x.Repeatability
		cmd   []byte // datasheet 4.3 Table 9, no clock stretching
		read  []byte // T word, CRC, RH word, CRC (4.4); CRCs per Table 20
		wait  time.Duration
		wantT physic.Temperature
		wantH physic.RelativeHumidity
	}{
		// 0x6666 = 0.4 × (2^16-1): -45 + 0.4×175 = 25 °C and 40 %RH (4.13).
		{"25C", 0x44, sht3x.High, []byte{0x24, 0x00}, []byte{0x66, 0x66, 0x93, 0x66, 0x66, 0x93},
			15 * time.Millisecond, physic.ZeroCelsius + 25*physic.Kelvin, 40 * physic.PercentRH},
		// 0x3333 = 0.2 × (2^16-1): -45 + 35 = -10 °C; 0xCCCC = 0.8: 80 %RH.
		{"minus10C", 0x45, sht3x.Medium, []byte{0x24, 0x0B}, []byte{0x33, 0x33, 0x88, 0xCC, 0xCC, 0xA5},
			6 * time.Millisecond, physic.ZeroCelsius - 10*physic.Kelvin, 80 * physic.PercentRH},
		// The bottom of the scale: -45 °C, 0 %RH (CRC(0x0000) = 0x81).
		{"minus45C", 0x44, sht3x.Low, []byte{0x24, 0x16}, []byte{0x00, 0x00, 0x81, 0x00, 0x00, 0x81},
			4 * time.Millisecond, physic.ZeroCelsius - 45*physic.Kelvin, 0},
		// The top of the humidity scale with a mid temperature.
		{"saturated", 0x44, sht3x.High, []byte{0x24, 0x00}, []byte{0x66, 0x66, 0x93, 0xFF, 0xFF, 0xAC},
			15 * time.Millisecond, physic.ZeroCelsius + 25*physic.Kelvin, 100 * physic.PercentRH},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := append(newOps(tc.addr), i2ctest.IO{Addr: tc.addr, W: tc.cmd}, i2ctest.IO{Addr: tc.addr, R: tc.read})
			p := &i2ctest.Playback{Ops: ops, DontPanic: true}
			clk := sensorsim.NewInstantClock()
			start := clk.Now()
			d, err := sht3x.New(p, &sht3x.Opts{Addr: tc.addr, Repeatability: tc.rep, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := clk.Since(start), sht3x.SoftResetTime; got != want {
				t.Fatalf("New waited %v, want %v (tSR)", got, want)
			}
			start = clk.Now()
			e := physic.Env{Pressure: 7} // Sense must leave Pressure alone
			if err := d.Sense(&e); err != nil {
				t.Fatal(err)
			}
			if got, want := clk.Since(start), tc.wait; got != want {
				t.Fatalf("Sense waited %v, want %v (Table 4)", got, want)
			}
			if e.Temperature != tc.wantT || e.Humidity != tc.wantH || e.Pressure != 7 {
				t.Fatalf("Sense()=%v %v %v, want %v %v %v", e.Temperature, e.Humidity, e.Pressure, tc.wantT, tc.wantH, physic.Pressure(7))
			}
			if err := d.Halt(); err != nil {
				t.Fatal(err)
			}
			mustClose(t, p)
		})
	}
}

func TestDev_Sense_badReadings(t *testing.T) {
	for _, tc := range []struct {
		name string
		read []byte
		want error
	}{
		// CRC(0x6666) is 0x93; one flipped bit in the checksum or the word.
		{"temperatureCRC", []byte{0x66, 0x66, 0x92, 0x66, 0x66, 0x93}, i2cdev.ErrCRC},
		{"humidityCRC", []byte{0x66, 0x66, 0x93, 0x66, 0x67, 0x93}, i2cdev.ErrCRC},
		// A bus with nothing driving SDA reads 0xFF everywhere: caught by the CRC.
		{"floating", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, i2cdev.ErrCRC},
		// All-ones words with their valid CRC 0xAC: 130 °C at 100 %RH.
		{"allOnes", []byte{0xFF, 0xFF, 0xAC, 0xFF, 0xFF, 0xAC}, i2cdev.ErrGarbage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := append(newOps(0x44), i2ctest.IO{Addr: 0x44, W: []byte{0x24, 0x00}}, i2ctest.IO{Addr: 0x44, R: tc.read})
			p := &i2ctest.Playback{Ops: ops, DontPanic: true}
			d, err := sht3x.New(p, &sht3x.Opts{Addr: 0x44, Clock: sensorsim.NewInstantClock()})
			if err != nil {
				t.Fatal(err)
			}
			e := physic.Env{Temperature: 1, Humidity: 2}
			err = d.Sense(&e)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Sense()=%v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "SHT3x at 0x44 on playback") {
				t.Fatalf("error %q does not name the chip, address and bus", err)
			}
			if e.Temperature != 1 || e.Humidity != 2 {
				t.Fatalf("a failed Sense changed env to %+v", e)
			}
			mustClose(t, p)
		})
	}
}

func TestNew_statusCRC(t *testing.T) {
	ops := newOps(0x44)[:3]
	ops[2].R = []byte{0x80, 0x10, 0xE0} // CRC(0x8010) is 0xE1
	p := &i2ctest.Playback{Ops: ops, DontPanic: true}
	if _, err := sht3x.New(p, &sht3x.Opts{Addr: 0x44, Clock: sensorsim.NewInstantClock()}); !errors.Is(err, i2cdev.ErrCRC) {
		t.Fatalf("New()=%v, want ErrCRC", err)
	}
	mustClose(t, p)
}

// nackBus fails its fail-th transaction (from 1) as Linux reports a NACK.
type nackBus struct {
	i2c.Bus
	n, fail int
}

func (b *nackBus) Tx(addr uint16, w, r []byte) error {
	if b.n++; b.n == b.fail {
		return fmt.Errorf("i2c tx at %#x: %w", addr, syscall.EREMOTEIO)
	}
	return b.Bus.Tx(addr, w, r)
}

func TestDev_NACK(t *testing.T) {
	t.Run("New", func(t *testing.T) {
		// Nothing at 0x45: the soft reset is not acknowledged.
		p := &i2ctest.Playback{DontPanic: true}
		_, err := sht3x.New(&nackBus{Bus: p, fail: 1}, &sht3x.Opts{Addr: 0x45, Clock: sensorsim.NewInstantClock()})
		if !errors.Is(err, i2cdev.ErrNACK) || !strings.Contains(err.Error(), "soft reset: SHT3x at 0x45") {
			t.Fatalf("New()=%v, want a NACK on the soft reset", err)
		}
		mustClose(t, p)
	})
	t.Run("Sense", func(t *testing.T) {
		// The read header refused: the chip was still measuring (4.4).
		ops := append(newOps(0x44), i2ctest.IO{Addr: 0x44, W: []byte{0x24, 0x00}})
		p := &i2ctest.Playback{Ops: ops, DontPanic: true}
		d, err := sht3x.New(&nackBus{Bus: p, fail: 6}, &sht3x.Opts{Addr: 0x44, Clock: sensorsim.NewInstantClock()})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Sense(&physic.Env{}); !errors.Is(err, i2cdev.ErrNACK) {
			t.Fatalf("Sense()=%v, want ErrNACK", err)
		}
		mustClose(t, p)
	})
}

// TestDev_Sense_waits shows Sense does not read before the measurement's
// maximum duration has passed on its clock.
func TestDev_Sense_waits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ops := append(newOps(0x44), i2ctest.IO{Addr: 0x44, W: []byte{0x24, 0x00}},
		i2ctest.IO{Addr: 0x44, R: []byte{0x66, 0x66, 0x93, 0x66, 0x66, 0x93}})
	p := &i2ctest.Playback{Ops: ops, DontPanic: true}
	fc := clockwork.NewFakeClock()

	newDone := make(chan error, 1)
	var d *sht3x.Dev
	go func() {
		var err error
		d, err = sht3x.New(p, &sht3x.Opts{Addr: 0x44, Clock: fc})
		newDone <- err
	}()
	if err := fc.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	fc.Advance(sht3x.SoftResetTime)
	if err := <-newDone; err != nil {
		t.Fatal(err)
	}

	senseDone := make(chan error, 1)
	go func() { senseDone <- d.Sense(&physic.Env{}) }()
	if err := fc.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	fc.Advance(15*time.Millisecond - time.Microsecond)
	select {
	case err := <-senseDone:
		t.Fatalf("Sense returned (%v) before 15 ms had passed", err)
	default:
	}
	if got, want := p.Count, 5; got != want {
		t.Fatalf("%d transactions before the wait ended, want %d", got, want)
	}
	fc.Advance(time.Microsecond)
	if err := <-senseDone; err != nil {
		t.Fatal(err)
	}
	mustClose(t, p)
}

func TestDev_SenseContinuous(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	meas := []i2ctest.IO{
		{Addr: 0x44, W: []byte{0x24, 0x00}},
		{Addr: 0x44, R: []byte{0x66, 0x66, 0x93, 0x66, 0x66, 0x93}},
		{Addr: 0x44, W: []byte{0x24, 0x00}},
		{Addr: 0x44, R: []byte{0x33, 0x33, 0x88, 0xCC, 0xCC, 0xA5}},
	}
	p := &i2ctest.Playback{Ops: append(newOps(0x44), meas...), DontPanic: true}
	clk := sensorsim.NewInstantClock()
	d, err := sht3x.New(p, &sht3x.Opts{Addr: 0x44, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SenseContinuous(time.Millisecond); err == nil {
		t.Fatal("SenseContinuous(1ms) accepted an interval shorter than a measurement")
	}
	ch, err := d.SenseContinuous(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if e := <-ch; e.Temperature != physic.ZeroCelsius+25*physic.Kelvin {
		t.Fatalf("first reading %v, want 25°C", e.Temperature)
	}
	if err := clk.BlockUntilContext(ctx, 1); err != nil { // the ticker
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if e := <-ch; e.Temperature != physic.ZeroCelsius-10*physic.Kelvin {
		t.Fatalf("second reading %v, want -10°C", e.Temperature)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after Halt")
	}
	mustClose(t, p)
}

func TestDev_SenseContinuous_failureEnds(t *testing.T) {
	p := &i2ctest.Playback{Ops: newOps(0x44), DontPanic: true}
	d, err := sht3x.New(&nackBus{Bus: p, fail: 5}, &sht3x.Opts{Addr: 0x44, Clock: sensorsim.NewInstantClock()})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := d.SenseContinuous(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("a failed measurement was sent")
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	mustClose(t, p)
}

func TestDev_StringPrecision(t *testing.T) {
	p := &i2ctest.Playback{Ops: newOps(0x45), DontPanic: true}
	d, err := sht3x.New(p, &sht3x.Opts{Addr: 0x45, Clock: sensorsim.NewInstantClock()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.String(), "SHT3x at 0x45 on playback"; got != want {
		t.Fatalf("String()=%q, want %q", got, want)
	}
	var e physic.Env
	d.Precision(&e)
	// 175 K / (2^16-1) and 100 % / (2^16-1), to the unit.
	if e.Temperature != 2670329 || e.Humidity != 153 || e.Pressure != 0 {
		t.Fatalf("Precision()=%+v", e)
	}
	mustClose(t, p)
}

// BenchmarkDev_Sense measures the driver's CPU per Sense on a simulated bus
// that takes no time, against a simulated chip, with a clock whose waits
// cost nothing (the figure includes the simulated bus and chip, so it
// overstates the driver). driver-overhead-% is that time over the time the
// same transactions take on a 400 kHz bus.
func BenchmarkDev_Sense(b *testing.B) {
	bus := i2csim.New("sim-i2c-1")
	clk := sensorsim.NewInstantClock()
	chip := sensorsim.NewSHT3x(sensorsim.Fixed{T: physic.ZeroCelsius + 21370*physic.MilliKelvin, H: 45 * physic.PercentRH})
	chip.SetClock(clk)
	if err := bus.Attach(0x44, chip); err != nil {
		b.Fatal(err)
	}
	d, err := sht3x.New(bus, &sht3x.Opts{Addr: 0x44, Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	wire := i2csim.WireTime(400_000, i2csim.Tx{W: 2}, i2csim.Tx{R: 6}) // command; T, CRC, RH, CRC
	txs0, bytes0 := bus.Stats()
	var e physic.Env
	n := 0
	for b.Loop() {
		if err := d.Sense(&e); err != nil {
			b.Fatal(err)
		}
		n++
	}
	txs, bytes := bus.Stats()
	if (txs-txs0) != uint64(2*n) || (bytes-bytes0) != uint64(8*n) {
		b.Fatalf("%d transactions, %d bytes for %d Sense; the wire time assumes 2 and 8 each", txs-txs0, bytes-bytes0, n)
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(n)
	b.ReportMetric(100*perOp/float64(wire.Nanoseconds()), "driver-overhead-%")
}
