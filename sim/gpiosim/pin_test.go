package gpiosim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// guard bounds a test that waits on goroutines: a failure to synchronise
// fails the test rather than hanging it. It is never what the test waits
// for.
func guard(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPin_Out(t *testing.T) {
	p := NewPin("GPIO17", clockwork.NewFakeClock())
	var seen []gpio.Level
	p.OnChange(func(l gpio.Level) { seen = append(seen, l) })
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Level(), gpio.High; got != want {
		t.Fatalf("Level()=%s, want %s", got, want)
	}
	if l, out := p.Output(); !out || l != gpio.High {
		t.Fatalf("Output()=%s,%t, want High,true", l, out)
	}
	if got, want := p.Read(), gpio.High; got != want {
		t.Fatalf("Read()=%s, want %s", got, want)
	}
	if err := p.Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != gpio.High || seen[1] != gpio.Low {
		t.Fatalf("OnChange saw %v, want [High Low]", seen)
	}
	if got, want := p.Func(), gpio.OUT_LOW; got != want {
		t.Fatalf("Func()=%s, want %s", got, want)
	}
	if p.PWM(gpio.DutyHalf, 0) == nil {
		t.Fatal("PWM() succeeded")
	}
}

func TestPin_Input(t *testing.T) {
	p := NewPin("GPIO27", clockwork.NewFakeClock())
	if err := p.In(gpio.PullUp, gpio.NoEdge); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Read(), gpio.High; got != want {
		t.Fatalf("pulled up: Read()=%s, want %s", got, want)
	}
	p.SetInput(gpio.Low)
	if got, want := p.Read(), gpio.Low; got != want {
		t.Fatalf("driven low: Read()=%s, want %s", got, want)
	}
	p.Release()
	if got, want := p.Read(), gpio.High; got != want {
		t.Fatalf("released: Read()=%s, want %s", got, want)
	}
	if err := p.In(gpio.PullDown, gpio.NoEdge); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Read(), gpio.Low; got != want {
		t.Fatalf("pulled down: Read()=%s, want %s", got, want)
	}
	if got, want := p.Pull(), gpio.PullDown; got != want {
		t.Fatalf("Pull()=%s, want %s", got, want)
	}
	if err := p.In(gpio.Pull(9), gpio.NoEdge); err == nil {
		t.Fatal("In(Pull(9)) succeeded")
	}
}

func TestPin_WaitForEdge(t *testing.T) {
	for _, tc := range []struct {
		edge gpio.Edge
		want []bool // after a fall, then after a rise
	}{
		{gpio.BothEdges, []bool{true, true}},
		{gpio.FallingEdge, []bool{true, false}},
		{gpio.RisingEdge, []bool{false, true}},
		{gpio.NoEdge, []bool{false, false}},
	} {
		t.Run(tc.edge.String(), func(t *testing.T) {
			p := NewPin("GPIO22", clockwork.NewFakeClock())
			if err := p.In(gpio.PullUp, tc.edge); err != nil {
				t.Fatal(err)
			}
			p.SetInput(gpio.Low)
			if got := p.WaitForEdge(0); got != tc.want[0] {
				t.Fatalf("after falling: WaitForEdge(0)=%t, want %t", got, tc.want[0])
			}
			if p.WaitForEdge(0) {
				t.Fatal("second WaitForEdge(0) saw an edge")
			}
			p.SetInput(gpio.High)
			if got := p.WaitForEdge(0); got != tc.want[1] {
				t.Fatalf("after rising: WaitForEdge(0)=%t, want %t", got, tc.want[1])
			}
		})
	}
}

func TestPin_WaitForEdgeQueues(t *testing.T) {
	p := NewPin("GPIO22", clockwork.NewFakeClock())
	if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	for i := range 2 * maxPending {
		p.SetInput(gpio.Level(i%2 == 1))
	}
	n := 0
	for p.WaitForEdge(0) {
		n++
	}
	if n != maxPending {
		t.Fatalf("%d edges queued, want %d (the cap)", n, maxPending)
	}
	if got, want := p.Edges(), uint64(2*maxPending); got != want {
		t.Fatalf("Edges()=%d, want %d", got, want)
	}
	// In drops what is queued.
	p.SetInput(gpio.Low)
	if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	if p.WaitForEdge(0) {
		t.Fatal("an edge survived In()")
	}
}

func TestPin_WaitForEdgeTimeout(t *testing.T) {
	ctx := guard(t)
	fc := clockwork.NewFakeClock()
	p := NewPin("GPIO5", fc)
	if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	go func() { done <- p.WaitForEdge(10 * time.Millisecond) }()
	if err := p.BlockUntilWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	fc.Advance(9 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("WaitForEdge returned before its timeout")
	default:
	}
	fc.Advance(time.Millisecond)
	if <-done {
		t.Fatal("WaitForEdge()=true on a timeout")
	}
}

func TestPin_WaitForEdgeWakes(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(p *Pin)
		want bool
	}{
		{"edge", func(p *Pin) { p.SetInput(gpio.Low) }, true},
		{"In", func(p *Pin) { _ = p.In(gpio.PullUp, gpio.BothEdges) }, false},
		{"Halt", func(p *Pin) { _ = p.Halt() }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := guard(t)
			p := NewPin("GPIO6", clockwork.NewFakeClock())
			if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
				t.Fatal(err)
			}
			done := make(chan bool)
			go func() { done <- p.WaitForEdge(-1) }()
			if err := p.BlockUntilWaiting(ctx); err != nil {
				t.Fatal(err)
			}
			tc.do(p)
			if got := <-done; got != tc.want {
				t.Fatalf("WaitForEdge(-1)=%t, want %t", got, tc.want)
			}
		})
	}
}

func TestPin_TwoWaiters(t *testing.T) {
	ctx := guard(t)
	p := NewPin("GPIO6", clockwork.NewFakeClock())
	if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool, 2)
	for range 2 {
		go func() { done <- p.WaitForEdge(-1) }()
	}
	if err := p.BlockUntilWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	p.SetInput(gpio.Low)
	p.SetInput(gpio.High)
	for range 2 {
		if !<-done {
			t.Fatal("a waiter missed its edge")
		}
	}
}

func TestPin_BlockUntilWaitingNobody(t *testing.T) {
	p := NewPin("GPIO6", clockwork.NewFakeClock())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.BlockUntilWaiting(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("BlockUntilWaiting()=%v, want context.Canceled", err)
	}
}

func TestPin_Bounce(t *testing.T) {
	fc := clockwork.NewFakeClock()
	p := NewPin("GPIO23", fc)
	if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	p.Bounce(gpio.Low, 2, time.Millisecond)
	for i, want := range []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low, gpio.Low} {
		if got := p.Read(); got != want {
			t.Fatalf("at %d ms: Read()=%s, want %s", i, got, want)
		}
		fc.Advance(time.Millisecond)
	}
	if got, want := p.Edges(), uint64(5); got != want {
		t.Fatalf("Edges()=%d, want %d", got, want)
	}
	// A later SetInput cancels a bounce in progress.
	p.Bounce(gpio.High, 3, time.Millisecond)
	p.SetInput(gpio.Low)
	fc.Advance(10 * time.Millisecond)
	if got, want := p.Read(), gpio.Low; got != want {
		t.Fatalf("after SetInput: Read()=%s, want %s", got, want)
	}
}

// A waiter sleeps only until the next scheduled change, so a bounce
// wakes it on the fake clock.
func TestPin_BounceWakesWaiter(t *testing.T) {
	ctx := guard(t)
	fc := clockwork.NewFakeClock()
	p := NewPin("GPIO23", fc)
	if err := p.In(gpio.PullUp, gpio.RisingEdge); err != nil {
		t.Fatal(err)
	}
	p.Bounce(gpio.Low, 1, 2*time.Millisecond) // falls now, rises at 2 ms, falls at 4 ms
	done := make(chan bool)
	go func() { done <- p.WaitForEdge(time.Second) }()
	if err := p.BlockUntilWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	fc.Advance(2 * time.Millisecond)
	if !<-done {
		t.Fatal("WaitForEdge missed the bounce's rising edge")
	}
}

func TestPin_Stick(t *testing.T) {
	p := NewPin("GPIO24", clockwork.NewFakeClock())
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	p.Stick(gpio.Low)
	if got, want := p.Read(), gpio.Low; got != want {
		t.Fatalf("stuck: Read()=%s, want %s", got, want)
	}
	if got, want := p.Level(), gpio.High; got != want {
		t.Fatalf("stuck: Level()=%s, want %s", got, want)
	}
	p.Unstick()
	if got, want := p.Read(), gpio.High; got != want {
		t.Fatalf("unstuck: Read()=%s, want %s", got, want)
	}
}

func TestPin_Faults(t *testing.T) {
	p := NewPin("GPIO25", clockwork.NewFakeClock())
	boom := errors.New("boom")
	p.FailOut(boom)
	if err := p.Out(gpio.High); !errors.Is(err, boom) {
		t.Fatalf("Out()=%v, want boom", err)
	}
	if _, out := p.Output(); out {
		t.Fatal("a failed Out made the line an output")
	}
	p.FailOut(nil)
	if err := p.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	p.FailRead(boom)
	if _, err := p.ReadLevel(); !errors.Is(err, boom) {
		t.Fatalf("ReadLevel()=%v, want boom", err)
	}
	if got, want := p.Read(), gpio.Low; got != want {
		t.Fatalf("Read() on a read fault=%s, want %s", got, want)
	}
}

func TestPin_Reset(t *testing.T) {
	p := NewPin("GPIO26", clockwork.NewFakeClock())
	var last gpio.Level = gpio.High
	calls := 0
	p.OnChange(func(l gpio.Level) { last = l; calls++ })
	if err := p.Out(gpio.Low); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if _, out := p.Output(); out {
		t.Fatal("still an output after Reset")
	}
	if calls != 2 || last != gpio.Low {
		t.Fatalf("OnChange: %d calls, last %s; want 2 calls (out, then input), last Low", calls, last)
	}
}
