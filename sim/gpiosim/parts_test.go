package gpiosim

import (
	"math"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

func TestRelay_Follows(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		p := NewPin("GPIO17", clockwork.NewFakeClock())
		r := NewRelay(p, activeLow)
		var seen []bool
		r.OnChange(func(on bool) { seen = append(seen, on) })
		if r.On() {
			t.Fatalf("activeLow=%t: on before the line is an output", activeLow)
		}
		onLevel := gpio.Level(!activeLow)
		if err := p.Out(onLevel); err != nil {
			t.Fatal(err)
		}
		if !r.On() {
			t.Fatalf("activeLow=%t: off with the line at %s", activeLow, onLevel)
		}
		if err := p.Out(!onLevel); err != nil {
			t.Fatal(err)
		}
		if r.On() {
			t.Fatalf("activeLow=%t: on with the line at %s", activeLow, !onLevel)
		}
		// A line that stops being an output leaves the relay off.
		_ = p.Out(onLevel)
		p.Reset()
		if r.On() {
			t.Fatalf("activeLow=%t: on after the line was reset", activeLow)
		}
		if got, want := r.Switches(), 4; got != want {
			t.Fatalf("activeLow=%t: Switches()=%d, want %d", activeLow, got, want)
		}
		if len(seen) != 4 || !seen[0] || seen[1] {
			t.Fatalf("activeLow=%t: OnChange saw %v", activeLow, seen)
		}
	}
}

func TestRelay_Stick(t *testing.T) {
	p := NewPin("GPIO17", clockwork.NewFakeClock())
	r := NewRelay(p, true)
	_ = p.Out(gpio.High) // off
	r.Stick(true)
	_ = p.Out(gpio.Low) // asks for on
	if r.On() {
		t.Fatal("a stuck relay switched")
	}
	if got, want := p.Read(), gpio.High; got != want {
		t.Fatalf("stuck off: Read()=%s, want %s (the relay's state)", got, want)
	}
	r.Stick(false)
	if !r.On() {
		t.Fatal("a freed relay did not follow its line")
	}
	if got, want := p.Read(), gpio.Low; got != want {
		t.Fatalf("freed: Read()=%s, want %s", got, want)
	}
}

func TestDoor(t *testing.T) {
	fc := clockwork.NewFakeClock()
	p := NewPin("GPIO27", fc)
	if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	d := NewDoor(p, true, false)
	if got, want := p.Read(), gpio.Low; got != want || !d.Closed() {
		t.Fatalf("shut: Read()=%s, want %s", got, want)
	}
	d.SetBounce(3, time.Millisecond)
	d.Open()
	if got, want := p.Read(), gpio.High; got != want || d.Closed() {
		t.Fatalf("open: Read()=%s, want %s", got, want)
	}
	fc.Advance(time.Millisecond)
	if got, want := p.Read(), gpio.Low; got != want {
		t.Fatalf("bouncing at 1 ms: Read()=%s, want %s", got, want)
	}
	fc.Advance(10 * time.Millisecond)
	if got, want := p.Read(), gpio.High; got != want {
		t.Fatalf("settled: Read()=%s, want %s", got, want)
	}
	// One edge for shutting; opening: one, then 2*3 bounces.
	if got, want := p.Edges(), uint64(1+1+6); got != want {
		t.Fatalf("Edges()=%d, want %d", got, want)
	}
}

type boltRig struct {
	fc                            *clockwork.FakeClock
	ext, ret, extended, retracted *Pin
	b                             *Bolt
}

func newBoltRig(t *testing.T, pos float64) *boltRig {
	t.Helper()
	fc := clockwork.NewFakeClock()
	r := &boltRig{fc: fc, ext: NewPin("EXT", fc), ret: NewPin("RET", fc), extended: NewPin("EXTD", fc), retracted: NewPin("RETD", fc)}
	var err error
	r.b, err = NewBolt(BoltOpts{Extend: r.ext, Retract: r.ret, Extended: r.extended, Retracted: r.retracted, Position: pos, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// closed reads the switches as a driver would: closed pulls low.
func (r *boltRig) closed() (extended, retracted bool) {
	return r.extended.Read() == gpio.Low, r.retracted.Read() == gpio.Low
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestBolt_Travel(t *testing.T) {
	r := newBoltRig(t, 0)
	if e, rt := r.closed(); e || !rt {
		t.Fatalf("at 0: switches extended=%t retracted=%t, want false true", e, rt)
	}
	_ = r.ret.Out(gpio.Low)
	_ = r.ext.Out(gpio.High)
	if got, want := r.b.Driving(), 1; got != want {
		t.Fatalf("Driving()=%d, want %d", got, want)
	}
	r.fc.Advance(23 * time.Millisecond) // the retracted zone ends at 0.02: 24 ms
	if _, rt := r.closed(); !rt {
		t.Fatal("retracted switch open inside its zone")
	}
	r.fc.Advance(2 * time.Millisecond)
	if _, rt := r.closed(); rt {
		t.Fatal("retracted switch still closed past its zone")
	}
	r.fc.Advance(575 * time.Millisecond)
	if got := r.b.Position(); !near(got, 0.5) {
		t.Fatalf("after 600 ms: Position()=%v, want 0.5", got)
	}
	r.fc.Advance(575 * time.Millisecond) // 1175 ms; the extended zone starts at 1176 ms
	if e, _ := r.closed(); e {
		t.Fatal("extended switch closed before its zone")
	}
	r.fc.Advance(2 * time.Millisecond)
	if e, _ := r.closed(); !e {
		t.Fatal("extended switch open in its zone")
	}
	r.fc.Advance(time.Second) // against the end stop
	if got := r.b.Position(); got != 1 {
		t.Fatalf("Position()=%v, want 1 at the end stop", got)
	}
	_ = r.ext.Out(gpio.Low)
	_ = r.ret.Out(gpio.High)
	r.fc.Advance(600 * time.Millisecond)
	if got := r.b.Position(); !near(got, 0.5) {
		t.Fatalf("retracting 600 ms: Position()=%v, want 0.5", got)
	}
	if e, rt := r.closed(); e || rt {
		t.Fatalf("midway: switches extended=%t retracted=%t", e, rt)
	}
	if got := r.b.Shorts(); got != 0 {
		t.Fatalf("Shorts()=%d", got)
	}
}

func TestBolt_Shorts(t *testing.T) {
	r := newBoltRig(t, 0.5)
	_ = r.ext.Out(gpio.High)
	_ = r.ret.Out(gpio.High)
	r.fc.Advance(time.Second)
	if got := r.b.Position(); got != 0.5 {
		t.Fatalf("Position()=%v with both inputs high, want 0.5 (no motion)", got)
	}
	_ = r.ret.Out(gpio.Low)
	_ = r.ret.Out(gpio.High)
	if got, want := r.b.Shorts(), 2; got != want {
		t.Fatalf("Shorts()=%d, want %d", got, want)
	}
}

func TestBolt_Obstruct(t *testing.T) {
	r := newBoltRig(t, 0)
	r.b.Obstruct(0.7)
	_ = r.ext.Out(gpio.High)
	r.fc.Advance(5 * time.Second)
	if got := r.b.Position(); got != 0.7 {
		t.Fatalf("Position()=%v, want 0.7 (stopped at the obstruction)", got)
	}
	if e, rt := r.closed(); e || rt {
		t.Fatalf("obstructed: switches extended=%t retracted=%t, want both open", e, rt)
	}
	// It backs away freely.
	_ = r.ext.Out(gpio.Low)
	_ = r.ret.Out(gpio.High)
	r.fc.Advance(5 * time.Second)
	if got := r.b.Position(); got != 0 {
		t.Fatalf("Position()=%v, want 0 after retracting", got)
	}
	if _, rt := r.closed(); !rt {
		t.Fatal("retracted switch open at 0")
	}
	// Cleared, it extends all the way.
	r.b.ClearObstruction()
	_ = r.ret.Out(gpio.Low)
	_ = r.ext.Out(gpio.High)
	r.fc.Advance(5 * time.Second)
	if e, _ := r.closed(); !e {
		t.Fatal("extended switch open after the obstruction was cleared")
	}
}

func TestBolt_ManualAndPower(t *testing.T) {
	r := newBoltRig(t, 0)
	r.b.SetPosition(1)
	if e, rt := r.closed(); !e || rt {
		t.Fatalf("turned by hand to 1: switches extended=%t retracted=%t", e, rt)
	}
	r.b.SetPosition(0.4)
	_ = r.ret.Out(gpio.High)
	r.fc.Advance(240 * time.Millisecond)
	r.ret.Reset() // power cut: the bridge input is pulled down
	r.fc.Advance(time.Second)
	if got := r.b.Position(); !near(got, 0.2) {
		t.Fatalf("Position()=%v after the power cut, want 0.2", got)
	}
	if got := r.b.Driving(); got != 0 {
		t.Fatalf("Driving()=%d after the power cut", got)
	}
}

func TestBolt_Options(t *testing.T) {
	fc := clockwork.NewFakeClock()
	if _, err := NewBolt(BoltOpts{Extend: NewPin("a", fc)}); err == nil {
		t.Fatal("NewBolt with one line succeeded")
	}
	p := func() *Pin { return NewPin("x", fc) }
	if _, err := NewBolt(BoltOpts{Extend: p(), Retract: p(), Extended: p(), Retracted: p(), Position: 2}); err == nil {
		t.Fatal("NewBolt at position 2 succeeded")
	}
	// SwitchHigh: a closed switch drives its line high.
	r, err := NewBolt(BoltOpts{Extend: p(), Retract: p(), Extended: p(), Retracted: p(), SwitchHigh: true, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.o.Retracted.Read(), gpio.High; got != want {
		t.Fatalf("SwitchHigh at 0: retracted reads %s, want %s", got, want)
	}
}
