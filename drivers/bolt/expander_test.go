package bolt_test

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/drivers/bolt"
	"github.com/hearth-hub/hearth/drivers/mcp23017"
	"github.com/hearth-hub/hearth/sim/gpiosim"
	"github.com/hearth-hub/hearth/sim/i2csim"
)

// The bolt on four lines of a simulated MCP23017 on a simulated bus: the
// bridge inputs on GPA0/GPA1, the switches on GPB0/GPB1.
func TestDev_OnMCP23017(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fc := clockwork.NewFakeClockAt(t0)
	chip := gpiosim.NewMCP23017("X", fc)
	bus := i2csim.New("sim-i2c-1")
	if err := bus.Attach(0x20, chip); err != nil {
		t.Fatal(err)
	}
	model, err := gpiosim.NewBolt(gpiosim.BoltOpts{
		Extend: chip.Line(0), Retract: chip.Line(1), Extended: chip.Line(8), Retracted: chip.Line(9),
		Position: 0, Clock: fc,
	})
	if err != nil {
		t.Fatal(err)
	}
	x, err := mcp23017.New(bus, &mcp23017.Opts{Addr: 0x20, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	var lines [4]*mcp23017.Pin
	for i, n := range []int{0, 1, 8, 9} {
		if lines[i], err = x.Pin(n); err != nil {
			t.Fatal(err)
		}
	}
	o := bolt.DefaultOpts()
	o.Extend, o.Retract, o.Extended, o.Retracted, o.Clock = lines[0], lines[1], lines[2], lines[3], fc
	d, err := bolt.New(&o)
	if err != nil {
		t.Fatal(err)
	}
	if at, err := d.Position(); at != bolt.Retracted || err != nil {
		t.Fatalf("Position()=%s,%v, want retracted", at, err)
	}
	done := make(chan error, 1)
	opCtx, stop := context.WithCancel(ctx)
	go func() { defer stop(); done <- d.Extend(ctx) }()
	for fc.BlockUntilContext(opCtx, 1) == nil {
		fc.Advance(bolt.Poll)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if at, err := d.Position(); at != bolt.Extended || err != nil {
		t.Fatalf("Position()=%s,%v, want extended", at, err)
	}
	for _, n := range []int{0, 1} {
		if l, out := chip.Line(n).Output(); !out || l != gpio.Low {
			t.Fatalf("GPA%d: output %t at %s, want a low output", n, out, l)
		}
	}
	if n := model.Shorts(); n != 0 {
		t.Fatalf("%d shorts", n)
	}
}
