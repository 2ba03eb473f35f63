package contact_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/hearth-hub/hearth/drivers/contact"
	"github.com/hearth-hub/hearth/sim/gpiosim"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// guard bounds a test that waits on goroutines; it is never what a test
// waits for.
func guard(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rig is a door on a simulated line, watched by a contact whose Run runs
// on a fake clock.
type rig struct {
	t      *testing.T
	ctx    context.Context
	fc     *clockwork.FakeClock
	pin    *gpiosim.Pin
	door   *gpiosim.Door
	d      *contact.Dev
	events chan contact.Event
}

func start(t *testing.T, debounce time.Duration, shut bool) *rig {
	t.Helper()
	r := &rig{t: t, ctx: guard(t), fc: clockwork.NewFakeClockAt(t0), events: make(chan contact.Event, 16)}
	r.pin = gpiosim.NewPin("GPIO27", r.fc)
	r.door = gpiosim.NewDoor(r.pin, shut, false)
	o := contact.DefaultOpts()
	o.Debounce, o.Clock = debounce, r.fc
	var err error
	if r.d, err = contact.New(r.pin, &o); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- r.d.Run(runCtx, func(e contact.Event) { r.events <- e }) }()
	r.idle()
	t.Cleanup(func() {
		cancel()
		// Run notices within EdgeWait.
		r.fc.Advance(contact.EdgeWait)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run()=%v after cancel, want nil", err)
			}
		case <-r.ctx.Done():
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

// idle waits until Run has handled all the line did and waits again.
func (r *rig) idle() {
	r.t.Helper()
	if err := r.pin.BlockUntilWaiting(r.ctx); err != nil {
		r.t.Fatal(err)
	}
}

// stepTo moves the clock 1 ms at a time to t0+at, letting Run handle each
// step, and returns the events seen.
func (r *rig) stepTo(at time.Duration) []contact.Event {
	r.t.Helper()
	var seen []contact.Event
	for r.fc.Since(t0) < at {
		r.fc.Advance(time.Millisecond)
		r.idle()
		seen = append(seen, r.drain()...)
	}
	return seen
}

func (r *rig) drain() []contact.Event {
	var seen []contact.Event
	for {
		select {
		case e := <-r.events:
			seen = append(seen, e)
		default:
			return seen
		}
	}
}

func TestRun_BouncesAreOneEvent(t *testing.T) {
	r := start(t, 30*time.Millisecond, false)
	r.door.SetBounce(3, 2*time.Millisecond) // settles at 12 ms
	r.door.Close()
	r.idle()
	if got := r.stepTo(41 * time.Millisecond); len(got) != 0 {
		t.Fatalf("events before the level held 30 ms: %v", got)
	}
	got := r.stepTo(42 * time.Millisecond)
	want := contact.Event{Closed: true, At: t0.Add(12 * time.Millisecond)}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("at 42 ms: events %v, want [%v]", got, want)
	}
	if got := r.stepTo(300 * time.Millisecond); len(got) != 0 {
		t.Fatalf("events after settling: %v", got)
	}
	if c, err := r.d.Closed(); !c || err != nil {
		t.Fatalf("Closed()=%t,%v, want true", c, err)
	}
}

func TestRun_ChangesAfterTheWindow(t *testing.T) {
	r := start(t, 30*time.Millisecond, false)
	r.door.Close()
	r.idle()
	seen := r.stepTo(50 * time.Millisecond)
	r.door.Open()
	r.idle()
	seen = append(seen, r.stepTo(200*time.Millisecond)...)
	want := []contact.Event{{Closed: true, At: t0}, {Closed: false, At: t0.Add(50 * time.Millisecond)}}
	if len(seen) != 2 || seen[0] != want[0] || seen[1] != want[1] {
		t.Fatalf("events %v, want %v", seen, want)
	}
}

func TestRun_GlitchIsNoEvent(t *testing.T) {
	r := start(t, 30*time.Millisecond, false)
	r.door.Close()
	r.idle()
	r.stepTo(10 * time.Millisecond)
	r.door.Open()
	r.idle()
	if got := r.stepTo(300 * time.Millisecond); len(got) != 0 {
		t.Fatalf("a 10 ms glitch gave events %v", got)
	}
	if c, err := r.d.Closed(); c || err != nil {
		t.Fatalf("Closed()=%t,%v, want false", c, err)
	}
}

func TestRun_NoDebounce(t *testing.T) {
	r := start(t, 0, false)
	r.door.Close()
	r.idle()
	if got, want := r.drain(), (contact.Event{Closed: true, At: t0}); len(got) != 1 || got[0] != want {
		t.Fatalf("events %v, want [%v] at once", got, want)
	}
}

// An edge the line never reported is caught by the re-read after
// EdgeWait.
func TestRun_MissedEdge(t *testing.T) {
	r := start(t, 30*time.Millisecond, false)
	if err := r.pin.In(gpio.PullUp, gpio.NoEdge); err != nil { // edge detection lost
		t.Fatal(err)
	}
	r.idle()
	r.door.Close()
	r.idle()
	got := r.stepTo(contact.EdgeWait + 30*time.Millisecond)
	want := contact.Event{Closed: true, At: t0.Add(contact.EdgeWait)}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("events %v, want [%v]", got, want)
	}
}

func TestRun_ReadFails(t *testing.T) {
	r := start(t, 30*time.Millisecond, false)
	boom := errors.New("boom")
	r.pin.FailRead(boom)
	r.door.Close()
	r.idle()
	if _, err := r.d.Closed(); !errors.Is(err, boom) {
		t.Fatalf("Closed() with the line unreadable: err %v, want boom", err)
	}
	r.pin.FailRead(nil)
	got := r.stepTo(contact.EdgeWait + 30*time.Millisecond)
	if len(got) != 1 || !got[0].Closed {
		t.Fatalf("events after the line came back: %v, want one closing", got)
	}
	if c, err := r.d.Closed(); !c || err != nil {
		t.Fatalf("Closed()=%t,%v, want true", c, err)
	}
}

func TestRun_Twice(t *testing.T) {
	r := start(t, 30*time.Millisecond, false)
	if err := r.d.Run(r.ctx, func(contact.Event) {}); err == nil {
		t.Fatal("a second Run started")
	}
}

func TestDev_ClosedWithoutRun(t *testing.T) {
	p := gpiosim.NewPin("GPIO27", clockwork.NewFakeClock())
	door := gpiosim.NewDoor(p, false, false)
	d, err := contact.New(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Pull(), gpio.PullUp; got != want {
		t.Fatalf("line pull %s, want %s", got, want)
	}
	door.Close()
	if c, err := d.Closed(); !c || err != nil {
		t.Fatalf("Closed()=%t,%v, want true", c, err)
	}
	if got, want := d.String(), "contact(GPIO27)"; got != want {
		t.Fatalf("String()=%q, want %q", got, want)
	}
}

func TestNew_Gpiotest(t *testing.T) {
	p := &gpiotest.Pin{N: "GPIO4", EdgesChan: make(chan gpio.Level)}
	d, err := contact.New(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := d.Closed(); c {
		t.Fatal("pulled up and open: Closed()=true")
	}
	if got, want := p.Pull(), gpio.PullUp; got != want {
		t.Fatalf("pull %s, want %s", got, want)
	}
	_ = p.Out(gpio.Low)
	if c, _ := d.Closed(); !c {
		t.Fatal("line low: Closed()=false")
	}
	// Active high: closed reads high.
	o := contact.DefaultOpts()
	o.ActiveLow, o.Pull = false, gpio.PullDown
	if d, err = contact.New(p, &o); err != nil {
		t.Fatal(err)
	}
	if c, _ := d.Closed(); c {
		t.Fatal("pulled down, active high: Closed()=true")
	}
}

func TestNew_Invalid(t *testing.T) {
	p := gpiosim.NewPin("GPIO27", nil)
	for name, o := range map[string]contact.Opts{
		"pull":     {Pull: gpio.Pull(7)},
		"debounce": {Debounce: -time.Millisecond},
	} {
		if _, err := contact.New(p, &o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := contact.New(nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	p.FailRead(errors.New("boom"))
	if _, err := contact.New(p, nil); err == nil {
		t.Error("New on an unreadable line succeeded")
	}
}
