package lock_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/control/lock"
	"github.com/hearth-hub/hearth/drivers/bolt"
)

var (
	_ lock.Bolt   = (*bolt.Dev)(nil)
	_ lock.Strike = (*strikeDev)(nil)
)

func TestNew_Config(t *testing.T) {
	r := newRig(t, rigOpts{noRun: true})
	for _, tc := range []struct {
		name string
		cfg  lock.Config
		b    lock.Bolt
		s    lock.Strike
	}{
		{"no hardware", lock.Config{}, nil, nil},
		{"bolt and strike", lock.Config{}, r.b, strikeDev{}},
		{"relock negative", lock.Config{AutoRelock: -time.Second}, r.b, nil},
		{"relock too short", lock.Config{AutoRelock: time.Second}, r.b, nil},
		{"relock on a strike", lock.Config{AutoRelock: time.Minute}, nil, strikeDev{}},
		{"ajar negative", lock.Config{Ajar: -time.Second}, r.b, nil},
		{"poll too fast", lock.Config{PollEvery: time.Millisecond}, r.b, nil},
		{"poll too slow", lock.Config{PollEvery: time.Minute}, r.b, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := lock.New(tc.cfg, tc.b, tc.s, nil); err == nil {
				t.Fatal("New() succeeded, want an error")
			}
		})
	}
}

// strikeDev is a Strike that does nothing, for New's checks.
type strikeDev struct{}

func (strikeDev) Release(context.Context) error { return nil }
func (strikeDev) Halt() error                   { return nil }

// New reports what the switches and the door say, and never moves the
// bolt, then or later.
func TestNew_SensesAndNeverMoves(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      rigOpts
		fault  func(r *rig)
		bolt   lock.BoltState
		door   lock.DoorState
		reason string
	}{
		{name: "retracted", o: rigOpts{pos: 0}, bolt: lock.Unlocked, door: lock.DoorClosed},
		{name: "extended", o: rigOpts{pos: 1}, bolt: lock.Locked, door: lock.DoorClosed},
		{name: "midway", o: rigOpts{pos: 0.5}, bolt: lock.Unknown, door: lock.DoorClosed, reason: "between"},
		{name: "door open", o: rigOpts{pos: 1, open: true}, bolt: lock.Locked, door: lock.DoorOpen},
		{name: "no door contact", o: rigOpts{pos: 1, noDoor: true}, bolt: lock.Locked, door: lock.DoorUnknown},
		{name: "switch fault", o: rigOpts{pos: 0}, fault: func(r *rig) { r.extended.Stick(gpio.Low) },
			bolt: lock.Unknown, door: lock.DoorClosed, reason: "switch fault"},
		{name: "switch unreadable", o: rigOpts{pos: 1}, fault: func(r *rig) { r.retracted.FailRead(errors.New("i2c: nack")) },
			bolt: lock.Unknown, door: lock.DoorClosed, reason: "nack"},
		{name: "door unreadable", o: rigOpts{pos: 1}, fault: func(r *rig) { r.doorPin.FailRead(errors.New("i2c: nack")) },
			bolt: lock.Locked, door: lock.DoorUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.noRun = tc.fault != nil
			r := newRig(t, tc.o)
			if tc.fault != nil {
				tc.fault(r) // after the bolt driver's New, which refuses faults
				r.setLock(r.newLock(lock.Config{Clock: r.fc}))
				r.start()
			}
			before := r.model.Position()
			s := r.want(tc.bolt, tc.door, lock.SourceStartup)
			if !strings.Contains(s.Reason, tc.reason) {
				t.Fatalf("Reason %q, want it to say %q", s.Reason, tc.reason)
			}
			r.advance(10 * time.Minute)
			if got := r.lock().State().Bolt; got != tc.bolt {
				t.Fatalf("Bolt %s after 10 minutes, want %s", got, tc.bolt)
			}
			if got := r.model.Position(); got != before || r.raised() != 0 {
				t.Fatalf("the bolt moved: %v -> %v, extend raised %d times", before, got, r.raised())
			}
			r.off()
		})
	}
}

func TestLock_LockUnlock(t *testing.T) {
	r := newRig(t, rigOpts{pos: 0})
	r.want(lock.Unlocked, lock.DoorClosed, lock.SourceStartup)
	start := r.fc.Now()
	if err := r.do(r.l.Lock); err != nil {
		t.Fatal(err)
	}
	if took := r.fc.Since(start); took < stroke || took > stroke+bolt.Poll {
		t.Fatalf("Lock took %s, want the stroke, %s", took, stroke)
	}
	if p := r.model.Position(); p < 0.98 {
		t.Fatalf("Lock returned with the bolt at %v, short of its switch", p)
	}
	r.off()
	if s := r.want(lock.Locked, lock.DoorClosed, lock.SourceCommand); s.Reason != "" {
		t.Fatalf("Reason %q, want none", s.Reason)
	}
	if err := r.do(r.l.Unlock); err != nil {
		t.Fatal(err)
	}
	r.off()
	r.want(lock.Unlocked, lock.DoorClosed, lock.SourceCommand)
	want := []lock.BoltState{lock.Locking, lock.Locked, lock.Unlocking, lock.Unlocked}
	if got := r.bolts(); !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	// Already there: the command runs, the motor does not.
	if err := r.do(r.l.Unlock); err != nil {
		t.Fatal(err)
	}
	if r.raised() != 1 {
		t.Fatalf("extend raised %d times, want once", r.raised())
	}
}

func TestLock_Jammed(t *testing.T) {
	r := newRig(t, rigOpts{pos: 0})
	r.model.Obstruct(0.6)
	start := r.fc.Now()
	err := r.do(r.l.Lock)
	if !errors.Is(err, lock.ErrJammed) || !errors.Is(err, bolt.ErrJammed) {
		t.Fatalf("Lock()=%v, want ErrJammed wrapping bolt.ErrJammed", err)
	}
	if took := r.fc.Since(start); took < travel || took > travel+2*bolt.Poll {
		t.Fatalf("jammed after %s, want the travel timeout, %s", took, travel)
	}
	r.off()
	s := r.want(lock.Jammed, lock.DoorClosed, lock.SourceCommand)
	if want := "jammed: bolt did not reach the extended switch in 2s"; s.Reason != want {
		t.Fatalf("Reason %q, want %q", s.Reason, want)
	}
	// Polls of the bolt still midway keep it jammed.
	r.advance(time.Minute)
	r.want(lock.Jammed, lock.DoorClosed, lock.SourceCommand)
	r.off()
	// Still obstructed: jammed again.
	if err := r.do(r.l.Lock); !errors.Is(err, lock.ErrJammed) {
		t.Fatalf("Lock()=%v, want ErrJammed", err)
	}
	// A successful command clears it.
	if err := r.do(r.l.Unlock); err != nil {
		t.Fatal(err)
	}
	if s := r.want(lock.Unlocked, lock.DoorClosed, lock.SourceCommand); s.Reason != "" {
		t.Fatalf("Reason %q, want none", s.Reason)
	}
	want := []lock.BoltState{lock.Locking, lock.Jammed, lock.Locking, lock.Jammed, lock.Unlocking, lock.Unlocked}
	if got := r.bolts(); !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
}

// A jam is cleared by a person freeing the bolt to an end; one stuck at
// its end stays jammed until it moves.
func TestLock_JamClearedByHand(t *testing.T) {
	r := newRig(t, rigOpts{pos: 1})
	r.model.Obstruct(0.985) // just inside the extended switch's zone
	if err := r.do(r.l.Unlock); !errors.Is(err, lock.ErrJammed) {
		t.Fatalf("Unlock()=%v, want ErrJammed", err)
	}
	s := r.want(lock.Jammed, lock.DoorClosed, lock.SourceCommand)
	if !strings.Contains(s.Reason, "retracted switch") || !strings.Contains(s.Reason, "at the extended switch") {
		t.Fatalf("Reason %q, want it to name the switch missed and the one closed", s.Reason)
	}
	r.advance(time.Second)
	r.want(lock.Jammed, lock.DoorClosed, lock.SourceCommand)
	r.model.ClearObstruction()
	r.turn(0)
	r.want(lock.Unlocked, lock.DoorClosed, lock.SourceManual)
}

func TestLock_DoorOpen(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 0, open: true})
		if err := r.do(r.l.Lock); !errors.Is(err, lock.ErrDoorOpen) {
			t.Fatalf("Lock()=%v, want ErrDoorOpen", err)
		}
		if s := r.want(lock.Unlocked, lock.DoorOpen, lock.SourceCommand); s.Reason != "door open: not locking" {
			t.Fatalf("Reason %q", s.Reason)
		}
		r.advance(lock.DefaultAjar)
		if err := r.do(r.l.Lock); !errors.Is(err, lock.ErrDoorOpen) {
			t.Fatalf("Lock() with the door ajar = %v, want ErrDoorOpen", err)
		}
		if r.raised() != 0 || r.model.Position() != 0 {
			t.Fatalf("the bolt moved: raised %d, at %v", r.raised(), r.model.Position())
		}
		r.off()
		// Withdrawing is allowed; closing clears the refusal's reason.
		if err := r.do(r.l.Unlock); err != nil {
			t.Fatal(err)
		}
		r.setDoor(true)
		if s := r.want(lock.Unlocked, lock.DoorClosed, lock.SourceDoor); s.Reason != "" {
			t.Fatalf("Reason %q, want none", s.Reason)
		}
		if err := r.do(r.l.Lock); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("opened during the throw", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 0})
		var opened time.Duration
		err := r.doWith(r.ctx, r.l.Lock, func(at time.Duration) {
			if opened == 0 && at >= 400*time.Millisecond {
				opened = at
				r.door.Open()
			}
		})
		if !errors.Is(err, lock.ErrDoorOpen) {
			t.Fatalf("Lock()=%v, want ErrDoorOpen", err)
		}
		r.off()
		// The motor ran until the debounced event, no longer.
		stopped := r.model.Position()
		if want := float64(opened+debounce) / float64(1200*time.Millisecond); stopped > want+0.01 {
			t.Fatalf("bolt at %v, want stopped by %v", stopped, want)
		}
		s := r.want(lock.Unknown, lock.DoorOpen, lock.SourceCommand)
		if !strings.Contains(s.Reason, "door opened") {
			t.Fatalf("Reason %q, want it to say the door opened", s.Reason)
		}
		r.setDoor(true)
		r.advance(time.Minute)
		if got := r.model.Position(); got != stopped {
			t.Fatalf("the bolt moved by itself: %v -> %v", stopped, got)
		}
	})
	t.Run("contact fails while open", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 0, open: true})
		r.doorPin.FailRead(errors.New("i2c: nack"))
		r.advance(contactEdgeWait)
		if err := r.do(r.l.Lock); !errors.Is(err, lock.ErrDoorOpen) {
			t.Fatalf("Lock()=%v, want ErrDoorOpen: the door was last seen open", err)
		}
		r.want(lock.Unlocked, lock.DoorOpen, lock.SourceCommand)
	})
	t.Run("contact unreadable", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 0})
		r.doorPin.FailRead(errors.New("i2c: nack"))
		r.advance(contactEdgeWait)
		if err := r.do(r.l.Lock); err != nil {
			t.Fatalf("Lock()=%v: a failed contact must not leave the house unlockable", err)
		}
		r.want(lock.Locked, lock.DoorUnknown, lock.SourceCommand)
	})
}

const contactEdgeWait = 100 * time.Millisecond // contact.EdgeWait

func TestLock_ManualTurn(t *testing.T) {
	r := newRig(t, rigOpts{pos: 0})
	for _, tc := range []struct {
		pos  float64
		want lock.BoltState
	}{{1, lock.Locked}, {0.5, lock.Unknown}, {0, lock.Unlocked}, {0.99, lock.Locked}} {
		r.model.SetPosition(tc.pos)
		r.advance(poll - time.Millisecond)
		if got := r.lock().State().Bolt; got == tc.want {
			t.Fatalf("turned to %v: seen before a poll", tc.pos)
		}
		r.advance(time.Millisecond)
		r.want(tc.want, lock.DoorClosed, lock.SourceManual)
		r.off()
	}
	if r.raised() != 0 {
		t.Fatal("the motor ran")
	}
}

func TestLock_Busy(t *testing.T) {
	r := newRig(t, rigOpts{pos: 0})
	var second, third error
	err := r.doWith(r.ctx, r.l.Lock, func(at time.Duration) {
		if at == 10*bolt.Poll {
			second, third = r.l.Lock(r.ctx), r.l.Unlock(r.ctx)
			r.want(lock.Locking, lock.DoorClosed, lock.SourceCommand)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(second, lock.ErrBusy) || !errors.Is(third, lock.ErrBusy) {
		t.Fatalf("Lock, Unlock while locking = %v, %v; want ErrBusy", second, third)
	}
	r.want(lock.Locked, lock.DoorClosed, lock.SourceCommand)
	if got, want := r.bolts(), []lock.BoltState{lock.Locking, lock.Locked}; !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
}

func TestLock_Halt(t *testing.T) {
	r := newRig(t, rigOpts{pos: 0})
	err := r.doWith(r.ctx, r.l.Lock, func(at time.Duration) {
		if at == 100*bolt.Poll {
			if err := r.l.Halt(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if !errors.Is(err, bolt.ErrHalted) {
		t.Fatalf("Lock()=%v, want bolt.ErrHalted", err)
	}
	r.off()
	s := r.want(lock.Unknown, lock.DoorClosed, lock.SourceCommand)
	if !strings.Contains(s.Reason, "halted") {
		t.Fatalf("Reason %q", s.Reason)
	}
}

// Power lost mid-travel: a new Lock on the same bolt reports it between
// its switches and leaves it there.
func TestNew_AfterStopMidTravel(t *testing.T) {
	for _, how := range []string{"cancel", "halt"} {
		t.Run(how, func(t *testing.T) {
			r := newRig(t, rigOpts{pos: 0})
			ctx, cancel := context.WithCancel(r.ctx)
			defer cancel()
			err := r.doWith(ctx, r.l.Lock, func(at time.Duration) {
				if at == 120*bolt.Poll {
					if how == "cancel" {
						cancel()
					} else if err := r.b.Halt(); err != nil {
						t.Fatal(err)
					}
				}
			})
			if err == nil {
				t.Fatal("Lock() succeeded")
			}
			r.off()
			r.stop()
			at := r.model.Position()
			if at < 0.4 || at > 0.6 {
				t.Fatalf("bolt stopped at %v, want midway", at)
			}
			raised := r.raised()
			r.b = r.newBolt()
			r.setLock(r.newLock(lock.Config{Clock: r.fc, AutoRelock: time.Minute}))
			r.start()
			s := r.want(lock.Unknown, lock.DoorClosed, lock.SourceStartup)
			if s.Reason != "bolt between its limit switches" {
				t.Fatalf("Reason %q", s.Reason)
			}
			r.advance(10 * time.Minute)
			r.want(lock.Unknown, lock.DoorClosed, lock.SourceStartup)
			if got := r.model.Position(); got != at || r.raised() != raised {
				t.Fatalf("the new Lock moved the bolt: %v -> %v", at, got)
			}
			r.off()
		})
	}
}

func TestLock_Ajar(t *testing.T) {
	r := newRig(t, rigOpts{pos: 1})
	r.setDoor(false)
	r.want(lock.Locked, lock.DoorOpen, lock.SourceDoor)
	r.advance(lock.DefaultAjar - time.Millisecond)
	r.want(lock.Locked, lock.DoorOpen, lock.SourceDoor)
	r.advance(time.Millisecond)
	r.want(lock.Locked, lock.DoorAjar, lock.SourceDoor)
	r.setDoor(true)
	r.want(lock.Locked, lock.DoorClosed, lock.SourceDoor)
	// Each opening counts afresh.
	r.setDoor(false)
	r.advance(lock.DefaultAjar / 2)
	r.setDoor(true)
	r.setDoor(false)
	r.advance(lock.DefaultAjar - time.Millisecond)
	r.want(lock.Locked, lock.DoorOpen, lock.SourceDoor)
	_, at, _ := r.recorded()
	r.advance(time.Millisecond)
	r.want(lock.Locked, lock.DoorAjar, lock.SourceDoor)
	if _, at2, _ := r.recorded(); len(at2) != len(at)+1 || at2[len(at)].Sub(at[len(at)-1]) != lock.DefaultAjar {
		t.Fatalf("ajar at %v, want %s after the door opened", at2, lock.DefaultAjar)
	}
}

// OnChange functions run with no lock held: they may command the lock.
func TestLock_OnChangeCallsBack(t *testing.T) {
	r := newRig(t, rigOpts{pos: 0})
	var again error
	calls := 0
	r.l.OnChange(func(s lock.State) {
		if s.Bolt == lock.Locked && calls == 0 {
			calls++
			_ = r.l.Halt()
			again = r.l.Lock(r.ctx) // at its switch already: returns at once
		}
	})
	if err := r.do(r.l.Lock); err != nil {
		t.Fatal(err)
	}
	if again != nil {
		t.Fatalf("Lock() from OnChange: %v", again)
	}
	want := []lock.BoltState{lock.Locking, lock.Locked, lock.Locking, lock.Locked}
	if got := r.bolts(); !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
}

// A switch that cannot be read makes the bolt unknown, the sensor's
// doing; when it reads again, the bolt is where it was.
func TestLock_SwitchReadFails(t *testing.T) {
	r := newRig(t, rigOpts{pos: 1})
	r.retracted.FailRead(errors.New("i2c: nack"))
	r.advance(poll)
	s := r.want(lock.Unknown, lock.DoorClosed, lock.SourceSensor)
	if !strings.Contains(s.Reason, "cannot read the limit switches") {
		t.Fatalf("Reason %q", s.Reason)
	}
	r.advance(time.Minute)
	if got := len(r.bolts()); got != 1 {
		t.Fatalf("%d changes while the read kept failing, want 1", got)
	}
	r.retracted.FailRead(nil)
	r.advance(poll)
	r.want(lock.Locked, lock.DoorClosed, lock.SourceSensor)
	// Turned while unreadable: a turn by hand.
	r.retracted.FailRead(errors.New("i2c: nack"))
	r.model.SetPosition(0)
	r.advance(poll)
	r.retracted.FailRead(nil)
	r.advance(poll)
	r.want(lock.Unlocked, lock.DoorClosed, lock.SourceManual)
}
