//go:build vmtest

package guest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/drivers/contact"
)

// A reed switch to ground with the pull-up on: closed reads low.
const (
	doorOpen   = gpio.High
	doorClosed = gpio.Low
)

func TestContact_Closed(t *testing.T) {
	door := mustLine(t, lineDoor)
	w := newWorld(t, nil)
	w.set(door, doorOpen)

	opts := contact.DefaultOpts()
	d, err := contact.New(door.pin, &opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for i, want := range []bool{false, true, false, true} {
		lv := doorOpen
		if want {
			lv = doorClosed
		}
		w.set(door, lv)
		var got bool
		ok := eventually(2*time.Second, func() bool {
			got, err = d.Closed()
			return err == nil && got == want
		})
		if err != nil {
			t.Fatalf("step %d: Closed(): %v", i, err)
		}
		if !ok {
			t.Fatalf("step %d: switch %s, Closed()=%v, want %v", i, map[bool]string{false: "open", true: "closed"}[want], got, want)
		}
	}
	t.Log("Closed() follows the reed switch: open, closed, open, closed")
}

func TestContact_Run(t *testing.T) {
	// Generous, so that a loaded host (TCG, 2 cores shared) cannot stretch
	// the bounce below past the window.
	const debounce = 250 * time.Millisecond
	door := mustLine(t, lineDoor)
	w := newWorld(t, nil)
	w.set(door, doorOpen)

	d, err := contact.New(door.pin, &contact.Opts{
		Pull:      gpio.PullUp,
		ActiveLow: true,
		Debounce:  debounce,
		Clock:     clockwork.NewRealClock(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	events := make(chan contact.Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx, func(e contact.Event) { events <- e }) }()
	// Whatever happens, Run ends before the line is released.
	ranOut := false
	t.Cleanup(func() {
		cancel()
		if !ranOut {
			select {
			case <-runErr:
			case <-time.After(2 * time.Second):
				t.Error("Run did not return within 2 s of cancel")
			}
		}
	})

	// Run may report the state it starts in; the door is open.
	settle := time.After(3 * debounce)
	for waiting := true; waiting; {
		select {
		case e := <-events:
			if e.Closed {
				t.Fatalf("door open at start, Run reported %+v", e)
			}
		case err := <-runErr:
			t.Fatalf("Run returned early: %v", err)
		case <-settle:
			waiting = false
		}
	}

	next := func(step string, want bool) {
		t.Helper()
		select {
		case e := <-events:
			if e.Closed != want {
				t.Fatalf("%s: event Closed=%v, want %v", step, e.Closed, want)
			}
			if e.At.IsZero() {
				t.Errorf("%s: event without a time", step)
			}
		case err := <-runErr:
			t.Fatalf("%s: Run returned early: %v", step, err)
		case <-time.After(3 * time.Second):
			t.Fatalf("%s: no event in 3 s", step)
		}
	}
	quiet := func(step string, d time.Duration) {
		t.Helper()
		select {
		case e := <-events:
			t.Fatalf("%s: unexpected event %+v", step, e)
		case <-time.After(d):
		}
	}

	w.set(door, doorClosed)
	next("door closes", true)
	quiet("door stays closed", 3*debounce)
	w.set(door, doorOpen)
	next("door opens", false)
	quiet("door stays open", 3*debounce)

	// A bouncing switch: five changes 1 ms apart, well inside the window,
	// ending closed. One event, closed.
	start := time.Now()
	for i, lv := range []gpio.Level{doorClosed, doorOpen, doorClosed, doorOpen, doorClosed} {
		if i > 0 {
			time.Sleep(time.Millisecond)
		}
		w.set(door, lv)
	}
	burst := time.Since(start)
	if burst >= debounce/2 {
		t.Fatalf("the bounce took %v, too slow to stay inside the %v window", burst, debounce)
	}
	next("bounce ending closed", true)
	quiet("after the bounce", 4*debounce)
	t.Logf("Run reported close, open, and one event for a 5-change bounce over %v (debounce %v)", burst.Round(time.Millisecond), debounce)

	cancel()
	select {
	case err := <-runErr:
		ranOut = true
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2 s of cancel")
	}
}
