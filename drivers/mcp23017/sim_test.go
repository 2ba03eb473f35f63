package mcp23017_test

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/drivers/mcp23017"
	"github.com/hearth-hub/hearth/sim/gpiosim"
	"github.com/hearth-hub/hearth/sim/i2csim"
)

type simRig struct {
	fc   *clockwork.FakeClock
	chip *gpiosim.MCP23017
	bus  *i2csim.Bus
	d    *mcp23017.Dev
}

func newSimRig(t *testing.T) *simRig {
	t.Helper()
	r := &simRig{fc: clockwork.NewFakeClock(), bus: i2csim.New("sim-i2c-1")}
	r.chip = gpiosim.NewMCP23017("X", r.fc)
	if err := r.bus.Attach(0x24, r.chip); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.d, err = mcp23017.New(r.bus, &mcp23017.Opts{Addr: 0x24, Clock: r.fc}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *simRig) pin(t *testing.T, n int) *mcp23017.Pin {
	t.Helper()
	p, err := r.d.Pin(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSim_OutAndRead(t *testing.T) {
	r := newSimRig(t)
	for _, n := range []int{0, 7, 8, 15} {
		p := r.pin(t, n)
		for _, l := range []gpio.Level{gpio.High, gpio.Low, gpio.High} {
			if err := p.Out(l); err != nil {
				t.Fatal(err)
			}
			if got := r.chip.Line(n).Level(); got != l {
				t.Fatalf("line %d: chip drives %s, want %s", n, got, l)
			}
			if got, err := p.ReadLevel(); got != l || err != nil {
				t.Fatalf("line %d: ReadLevel()=%s,%v, want %s", n, got, err, l)
			}
		}
	}
	if got, want := r.chip.Register(0x14), byte(0x81); got != want {
		t.Fatalf("OLATA=%#02x, want %#02x", got, want)
	}
	in := r.pin(t, 5)
	if err := in.In(gpio.PullUp, gpio.NoEdge); err != nil {
		t.Fatal(err)
	}
	if got, want := in.Read(), gpio.High; got != want {
		t.Fatalf("pulled-up input reads %s, want %s", got, want)
	}
	r.chip.Line(5).SetInput(gpio.Low)
	if got, want := in.Read(), gpio.Low; got != want {
		t.Fatalf("input driven low reads %s, want %s", got, want)
	}
}

func TestSim_WaitForEdge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := newSimRig(t)
	p := r.pin(t, 12)
	if err := p.In(gpio.PullUp, gpio.FallingEdge); err != nil {
		t.Fatal(err)
	}
	wait := func(timeout time.Duration) chan bool {
		done := make(chan bool, 1)
		go func() { done <- p.WaitForEdge(timeout) }()
		if err := r.fc.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		return done
	}

	done := wait(time.Second)
	r.chip.Line(12).SetInput(gpio.Low)
	r.fc.Advance(mcp23017.DefaultPoll)
	if !<-done {
		t.Fatal("falling edge missed")
	}
	// A rising edge is not asked for: the wait runs to its timeout.
	done = wait(20 * time.Millisecond) // from 5 ms to 25 ms
	r.chip.Line(12).SetInput(gpio.High)
	for range 3 {
		r.fc.Advance(mcp23017.DefaultPoll)
		if err := r.fc.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	r.fc.Advance(mcp23017.DefaultPoll)
	if <-done {
		t.Fatal("a rising edge woke a FallingEdge wait")
	}
	// An edge between two waits is not lost.
	r.chip.Line(12).SetInput(gpio.Low)
	r.fc.Advance(time.Second)
	if !p.WaitForEdge(0) {
		t.Fatal("an edge between waits was lost")
	}
	// Halt ends a wait.
	done = wait(-1)
	if err := p.Halt(); err != nil {
		t.Fatal(err)
	}
	if <-done {
		t.Fatal("WaitForEdge()=true after Halt")
	}
}

// Lines polled together share a read of their port's GPIO register.
func TestSim_PollShared(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := newSimRig(t)
	pins := []*mcp23017.Pin{r.pin(t, 0), r.pin(t, 1), r.pin(t, 2)}
	done := make(chan bool, len(pins))
	for _, p := range pins {
		if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pins {
		go func() { done <- p.WaitForEdge(50 * time.Millisecond) }()
	}
	if err := r.fc.BlockUntilContext(ctx, len(pins)); err != nil {
		t.Fatal(err)
	}
	before, _ := r.bus.Stats()
	for range 9 {
		r.fc.Advance(mcp23017.DefaultPoll)
		if err := r.fc.BlockUntilContext(ctx, len(pins)); err != nil {
			t.Fatal(err)
		}
	}
	r.fc.Advance(mcp23017.DefaultPoll) // 50 ms: the waits end
	for range pins {
		if <-done {
			t.Fatal("an edge on a quiet line")
		}
	}
	after, _ := r.bus.Stats()
	// 50 ms at 5 ms: 10 polls, each one read for the three lines.
	if got := after - before; got > 11 {
		t.Fatalf("%d bus transactions for 3 lines polled 10 times, want one per poll", got)
	}
}

// A write that fails leaves the driver unsure of the register: it reads
// it again before the next change rather than trusting its copy.
func TestSim_WriteFailureRereads(t *testing.T) {
	r := newSimRig(t)
	a0, a1 := r.pin(t, 0), r.pin(t, 1)
	if err := a0.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	r.bus.SetFault(0x24, i2csim.Fault{NACK: 1})
	if err := a1.Out(gpio.High); err == nil {
		t.Fatal("Out() succeeded through a NACK")
	}
	if err := a1.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	if got, want := r.chip.Register(0x14), byte(0x03); got != want {
		t.Fatalf("OLATA=%#02x, want %#02x", got, want)
	}
	// The chip resets behind the driver's back (a brown-out): the next
	// Out writes its register whole, healing it.
	r.chip.Reset()
	if err := a0.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	if got, want := r.chip.Register(0x00), byte(0xFC); got != want {
		t.Fatalf("IODIRA=%#02x after the reset and one Out, want %#02x", got, want)
	}
	if got := r.chip.Line(1).Level(); got != gpio.High {
		t.Fatal("GPA1 not restored by the write of OLATA and IODIRA")
	}
}
