package mcp9808_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/drivers/i2cdev"
	"github.com/hearth-hub/hearth/drivers/mcp9808"
	"github.com/hearth-hub/hearth/sim/i2csim"
	"github.com/hearth-hub/hearth/sim/sensorsim"
)

// newOps is New's transactions at addr, each a pointer write then a read
// with a repeated START (4.0): manufacturer ID 0x0054 (5.1.4), device ID
// 0x04 revision 0x00 (5.1.5), CONFIG at its power-up 0x0000 (5.1.1), then
// the resolution register written with res (5.1.6).
func newOps(addr uint16, res byte) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: addr, W: []byte{0x06}, R: []byte{0x00, 0x54}},
		{Addr: addr, W: []byte{0x07}, R: []byte{0x04, 0x00}},
		{Addr: addr, W: []byte{0x01}, R: []byte{0x00, 0x00}},
		{Addr: addr, W: []byte{0x08, res}},
	}
}

// readTA is a read of the ambient temperature register (5.1.3).
func readTA(addr uint16, hi, lo byte) i2ctest.IO {
	return i2ctest.IO{Addr: addr, W: []byte{0x05}, R: []byte{hi, lo}}
}

func mustClose(t *testing.T, p *i2ctest.Playback) {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// celsius is a temperature given in millionths of a degree Celsius.
func celsius(micro int64) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(micro)*physic.MicroKelvin
}

func TestNew_invalidOpts(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts mcp9808.Opts
		want string
	}{
		{"addressLow", mcp9808.Opts{Addr: 0x17, Resolution: mcp9808.SixteenthDegree}, "0x18-0x1F"},
		{"addressHigh", mcp9808.Opts{Addr: 0x20, Resolution: mcp9808.SixteenthDegree}, "0x18-0x1F"},
		{"resolution", mcp9808.Opts{Addr: 0x18, Resolution: 100 * physic.MilliKelvin}, "resolution"},
		{"noResolution", mcp9808.Opts{Addr: 0x18}, "resolution"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &i2ctest.Playback{DontPanic: true} // no Ops: any traffic fails Close
			if _, err := mcp9808.New(p, &tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New()=%v, want an error about %q", err, tc.want)
			}
			mustClose(t, p)
		})
	}
	if _, err := mcp9808.New(nil, nil); err == nil {
		t.Fatal("New(nil bus) succeeded")
	}
}

// TestDev_Sense decodes T_A words built from Register 5-4's bit weights
// (bit 12 sign, bits 11-4 = 2^7..2^0 °C, bits 3-0 = 2^-1..2^-4 °C, 13-bit
// two's complement, flags in bits 15-13), negative ones included.
func TestDev_Sense(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hi, lo byte
		want   physic.Temperature
	}{
		{"25C", 0x01, 0x90, celsius(25_000_000)},                   // 0x190 = 400/16
		{"25.0625CWithFlags", 0xC1, 0x91, celsius(25_062_500)},     // T_A ≥ T_CRIT and > T_UPPER flags set
		{"0C", 0x00, 0x00, physic.ZeroCelsius},                     //
		{"minus0.0625C", 0x1F, 0xFF, celsius(-62_500)},             // Equation 5-1 as printed would give +0.0625
		{"minus12.5C", 0x1F, 0x38, celsius(-12_500_000)},           // 0x2000 - 200
		{"minus12.5CBelowLower", 0x3F, 0x38, celsius(-12_500_000)}, // T_A < T_LOWER flag set
		{"minus40C", 0x1D, 0x80, celsius(-40_000_000)},             // 0x2000 - 640, the bottom of the range
		{"125C", 0x07, 0xD0, celsius(125_000_000)},                 // 2000/16, the top of the range
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := append(newOps(0x18, 0x03), readTA(0x18, tc.hi, tc.lo))
			p := &i2ctest.Playback{Ops: ops, DontPanic: true}
			d, err := mcp9808.New(p, &mcp9808.Opts{Addr: 0x18, Resolution: mcp9808.SixteenthDegree, Clock: sensorsim.NewInstantClock()})
			if err != nil {
				t.Fatal(err)
			}
			e := physic.Env{Humidity: 3, Pressure: 4}
			if err := d.Sense(&e); err != nil {
				t.Fatal(err)
			}
			if e.Temperature != tc.want || e.Humidity != 3 || e.Pressure != 4 {
				t.Fatalf("Sense()=%v %v %v, want %v and the rest untouched", e.Temperature, e.Humidity, e.Pressure, tc.want)
			}
			mustClose(t, p)
		})
	}
}

func TestDev_Sense_garbage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hi, lo byte
	}{
		{"allOnes", 0xFF, 0xFF},   // a floating bus
		{"minus256C", 0x10, 0x00}, // the most negative code: far below -40 °C
		{"plus256C", 0x0F, 0xFF},  // the most positive: far above 125 °C
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := append(newOps(0x1F, 0x03), readTA(0x1F, tc.hi, tc.lo))
			p := &i2ctest.Playback{Ops: ops, DontPanic: true}
			d, err := mcp9808.New(p, &mcp9808.Opts{Addr: 0x1F, Resolution: mcp9808.SixteenthDegree, Clock: sensorsim.NewInstantClock()})
			if err != nil {
				t.Fatal(err)
			}
			e := physic.Env{Temperature: 5}
			if err := d.Sense(&e); !errors.Is(err, i2cdev.ErrGarbage) || !strings.Contains(err.Error(), "MCP9808 at 0x1f on playback") {
				t.Fatalf("Sense()=%v, want ErrGarbage naming the chip", err)
			}
			if e.Temperature != 5 {
				t.Fatalf("a failed Sense changed env to %+v", e)
			}
			mustClose(t, p)
		})
	}
}

// TestDev_waits checks the resolution written (5.1.6) and the wait for the
// first conversion at it: a quarter more than 5.2.4's typical time, then
// no more waits while the chip converts on its own.
func TestDev_waits(t *testing.T) {
	for _, tc := range []struct {
		res  physic.Temperature
		code byte
		wait time.Duration
	}{
		{mcp9808.HalfDegree, 0, 37500 * time.Microsecond},
		{mcp9808.QuarterDegree, 1, 81250 * time.Microsecond},
		{mcp9808.EighthDegree, 2, 162500 * time.Microsecond},
		{mcp9808.SixteenthDegree, 3, 312500 * time.Microsecond},
	} {
		t.Run(tc.res.String(), func(t *testing.T) {
			ops := append(newOps(0x1A, tc.code), readTA(0x1A, 0x01, 0x90), readTA(0x1A, 0x01, 0x90))
			p := &i2ctest.Playback{Ops: ops, DontPanic: true}
			clk := sensorsim.NewInstantClock()
			d, err := mcp9808.New(p, &mcp9808.Opts{Addr: 0x1A, Resolution: tc.res, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []time.Duration{tc.wait, 0} {
				start := clk.Now()
				if err := d.Sense(&physic.Env{}); err != nil {
					t.Fatal(err)
				}
				if got := clk.Since(start); got != want {
					t.Fatalf("Sense %d waited %v, want %v", i, got, want)
				}
			}
			var e physic.Env
			if d.Precision(&e); e.Temperature != tc.res {
				t.Fatalf("Precision()=%v, want %v", e.Temperature, tc.res)
			}
			mustClose(t, p)
		})
	}
}

func TestDev_HaltWakes(t *testing.T) {
	ops := newOps(0x18, 0x03)
	ops[2].R = []byte{0x01, 0x00} // left in shutdown by a previous user
	ops = append(ops[:3], append([]i2ctest.IO{{Addr: 0x18, W: []byte{0x01, 0x00, 0x00}}}, ops[3:]...)...)
	ops = append(ops,
		readTA(0x18, 0x01, 0x90),
		i2ctest.IO{Addr: 0x18, W: []byte{0x01, 0x01, 0x00}}, // Halt: SHDN (5.1.1)
		i2ctest.IO{Addr: 0x18, W: []byte{0x01, 0x00, 0x00}}, // the next Sense wakes it
		readTA(0x18, 0x1F, 0x38))
	p := &i2ctest.Playback{Ops: ops, DontPanic: true}
	clk := sensorsim.NewInstantClock()
	d, err := mcp9808.New(p, &mcp9808.Opts{Addr: 0x18, Resolution: mcp9808.SixteenthDegree, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sense(&physic.Env{}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second Halt does nothing
		if err := d.Halt(); err != nil {
			t.Fatal(err)
		}
	}
	start := clk.Now()
	var e physic.Env
	if err := d.Sense(&e); err != nil {
		t.Fatal(err)
	}
	if clk.Since(start) != 312500*time.Microsecond || e.Temperature != celsius(-12_500_000) {
		t.Fatalf("after Halt Sense waited %v and read %v", clk.Since(start), e.Temperature)
	}
	mustClose(t, p)
}

func TestNew_wrongChip(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []i2ctest.IO
		want string
	}{
		{"manufacturer", []i2ctest.IO{{Addr: 0x18, W: []byte{0x06}, R: []byte{0x00, 0x55}}}, "manufacturer"},
		// The MCP9804 has device ID 0x02.
		{"device", append(newOps(0x18, 3)[:1], i2ctest.IO{Addr: 0x18, W: []byte{0x07}, R: []byte{0x02, 0x01}}), "device 0x02"},
		{"floating", []i2ctest.IO{{Addr: 0x18, W: []byte{0x06}, R: []byte{0xFF, 0xFF}}}, "0xffff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &i2ctest.Playback{Ops: tc.ops, DontPanic: true}
			_, err := mcp9808.New(p, nil)
			if !errors.Is(err, i2cdev.ErrChipID) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "MCP9808 at 0x18 on playback") {
				t.Fatalf("New()=%v, want ErrChipID about %q", err, tc.want)
			}
			mustClose(t, p)
		})
	}
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
	p := &i2ctest.Playback{DontPanic: true}
	_, err := mcp9808.New(&nackBus{Bus: p, fail: 1}, nil)
	if !errors.Is(err, i2cdev.ErrNACK) || !strings.Contains(err.Error(), "read manufacturer id: MCP9808 at 0x18") {
		t.Fatalf("New()=%v, want a NACK on the first read", err)
	}
	mustClose(t, p)

	p = &i2ctest.Playback{Ops: newOps(0x18, 3), DontPanic: true}
	d, err := mcp9808.New(&nackBus{Bus: p, fail: 5}, &mcp9808.Opts{Addr: 0x18, Resolution: mcp9808.SixteenthDegree, Clock: sensorsim.NewInstantClock()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sense(&physic.Env{}); !errors.Is(err, i2cdev.ErrNACK) {
		t.Fatalf("Sense()=%v, want ErrNACK", err)
	}
	mustClose(t, p)
}

func TestDev_SenseContinuous(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ops := append(newOps(0x18, 3), readTA(0x18, 0x01, 0x90), readTA(0x18, 0x1F, 0xFF),
		i2ctest.IO{Addr: 0x18, W: []byte{0x01, 0x01, 0x00}})
	p := &i2ctest.Playback{Ops: ops, DontPanic: true}
	clk := sensorsim.NewInstantClock()
	d, err := mcp9808.New(p, &mcp9808.Opts{Addr: 0x18, Resolution: mcp9808.SixteenthDegree, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SenseContinuous(100 * time.Millisecond); err == nil {
		t.Fatal("SenseContinuous accepted an interval shorter than a conversion")
	}
	ch, err := d.SenseContinuous(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if e := <-ch; e.Temperature != celsius(25_000_000) {
		t.Fatalf("first reading %v", e.Temperature)
	}
	if err := clk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if e := <-ch; e.Temperature != celsius(-62_500) {
		t.Fatalf("second reading %v", e.Temperature)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after Halt")
	}
	if got, want := d.String(), "MCP9808 at 0x18 on playback"; got != want {
		t.Fatalf("String()=%q, want %q", got, want)
	}
	mustClose(t, p)
}

// BenchmarkDev_Sense measures the driver's CPU per Sense on a simulated bus
// that takes no time, against a simulated chip (the figure includes them,
// so it overstates the driver). driver-overhead-% is that time over the
// time the same transaction takes on a 400 kHz bus: START, address,
// pointer, repeated START, address, two data bytes, STOP.
func BenchmarkDev_Sense(b *testing.B) {
	bus := i2csim.New("sim-i2c-1")
	clk := sensorsim.NewInstantClock()
	chip := sensorsim.NewMCP9808(sensorsim.Fixed{T: physic.ZeroCelsius + 21370*physic.MilliKelvin})
	chip.SetClock(clk)
	if err := bus.Attach(0x18, chip); err != nil {
		b.Fatal(err)
	}
	d, err := mcp9808.New(bus, &mcp9808.Opts{Addr: 0x18, Resolution: mcp9808.SixteenthDegree, Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	var e physic.Env
	if err := d.Sense(&e); err != nil { // the first waits for a conversion
		b.Fatal(err)
	}
	wire := i2csim.WireTime(400_000, i2csim.Tx{W: 1, R: 2}) // register pointer, then the 2-byte T_A
	txs0, bytes0 := bus.Stats()
	n := 0
	for b.Loop() {
		if err := d.Sense(&e); err != nil {
			b.Fatal(err)
		}
		n++
	}
	txs, bytes := bus.Stats()
	if (txs-txs0) != uint64(n) || (bytes-bytes0) != uint64(3*n) {
		b.Fatalf("%d transactions, %d bytes for %d Sense; the wire time assumes 1 and 3 each", txs-txs0, bytes-bytes0, n)
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(n)
	b.ReportMetric(100*perOp/float64(wire.Nanoseconds()), "driver-overhead-%")
}
