package contact_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/drivers/contact"
	"github.com/hearth-hub/hearth/drivers/mcp23017"
	"github.com/hearth-hub/hearth/sim/gpiosim"
	"github.com/hearth-hub/hearth/sim/i2csim"
)

// The contact driver on a line of a simulated MCP23017 on a simulated
// bus: edges come from the expander's polling of GPIO, on the fake clock.
func TestRun_OnMCP23017(t *testing.T) {
	ctx := guard(t)
	fc := clockwork.NewFakeClockAt(t0)
	chip := gpiosim.NewMCP23017("X", fc)
	bus := i2csim.New("sim-i2c-1")
	if err := bus.Attach(0x21, chip); err != nil {
		t.Fatal(err)
	}
	x, err := mcp23017.New(bus, &mcp23017.Opts{Addr: 0x21, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	line, err := x.Pin(4) // GPA4
	if err != nil {
		t.Fatal(err)
	}
	door := gpiosim.NewDoor(chip.Line(4), false, false)
	chip.Line(4).Release() // open reed: the line is only pulled up
	o := contact.DefaultOpts()
	o.Clock = fc
	d, err := contact.New(line, &o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := chip.Register(0x0C)&0x10, byte(0x10); got != want {
		t.Fatalf("GPPUA bit 4=%#x, want the pull-up on", got)
	}
	if c, err := d.Closed(); c || err != nil {
		t.Fatalf("Closed()=%t,%v, want false", c, err)
	}

	var mu sync.Mutex
	var seen []contact.Event
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- d.Run(runCtx, func(e contact.Event) { mu.Lock(); seen = append(seen, e); mu.Unlock() })
	}()
	events := func() []contact.Event { mu.Lock(); defer mu.Unlock(); return slices.Clone(seen) }
	// Run's wait on the expander line is the clock's only waiter: one
	// poll timer at a time.
	step := func(until time.Duration) {
		for fc.Since(t0) < until {
			if err := fc.BlockUntilContext(ctx, 1); err != nil {
				t.Fatal(err)
			}
			fc.Advance(time.Millisecond)
		}
		if err := fc.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	step(10 * time.Millisecond)
	door.SetBounce(2, time.Millisecond)
	door.Close() // at 10 ms; settles at 14 ms
	step(100 * time.Millisecond)
	got := events()
	if len(got) != 1 || !got[0].Closed {
		t.Fatalf("events %v, want one closing", got)
	}
	// Seen within one poll of settling.
	if at := got[0].At.Sub(t0); at < 14*time.Millisecond || at > 14*time.Millisecond+mcp23017.DefaultPoll {
		t.Fatalf("closing seen settled at %s, want 14 ms .. 14 ms + one poll", at)
	}
	door.Open()
	chip.Line(4).Release()
	step(200 * time.Millisecond)
	if got := events(); len(got) != 2 || got[1].Closed {
		t.Fatalf("events %v, want closing then opening", got)
	}
	if got, want := chip.Line(4).Level(), gpio.High; got != want {
		t.Fatalf("line %s, want %s", got, want)
	}
	cancel()
	fc.Advance(contact.EdgeWait)
	if err := <-done; err != nil {
		t.Fatalf("Run()=%v", err)
	}
}
