package lock_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/control/lock"
	"github.com/hearth-hub/hearth/drivers/bolt"
	"github.com/hearth-hub/hearth/drivers/strike"
)

var strikeErrHalted = strike.ErrHalted

const relock = 30 * time.Second

// relockedAt checks the lock relocked by itself, once, starting at at,
// and that the audit hook heard of it.
func (r *rig) relockedAt(at time.Time) {
	r.t.Helper()
	r.settle()
	r.want(lock.Locked, lock.DoorClosed, lock.SourceAutoRelock)
	states, times, audits := r.recorded()
	i := slices.IndexFunc(states, func(s lock.State) bool { return s.Bolt == lock.Locking })
	if i < 0 || states[i].Source != lock.SourceAutoRelock || !times[i].Equal(at) {
		r.t.Fatalf("changes %v at %v: want locking by auto_relock at %v", states, times, at)
	}
	if len(audits) != 1 || audits[0].action != "lock" || audits[0].err != nil ||
		audits[0].took < stroke-50*time.Millisecond || audits[0].took > stroke+2*bolt.Poll {
		r.t.Fatalf("audits %+v, want one successful lock taking about %s", audits, stroke)
	}
}

// unlock unlocks and returns when the bolt reached its switch.
func (r *rig) unlock() time.Time {
	r.t.Helper()
	if err := r.do(r.lock().Unlock); err != nil {
		r.t.Fatal(err)
	}
	r.clearRecorded()
	return r.fc.Now()
}

func TestLock_AutoRelock(t *testing.T) {
	cfg := lock.Config{AutoRelock: relock}
	t.Run("after an unlock", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 1, cfg: cfg})
		at := r.unlock()
		r.advance(relock - time.Millisecond)
		r.want(lock.Unlocked, lock.DoorClosed, lock.SourceCommand)
		r.advance(time.Millisecond)
		r.relockedAt(at.Add(relock))
		// Not again.
		r.advance(10 * time.Minute)
		if _, _, a := r.recorded(); len(a) != 1 {
			t.Fatalf("audits %+v, want one", a)
		}
	})
	t.Run("waits for the door, then counts from its closing", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 1, cfg: cfg})
		r.unlock()
		r.advance(10 * time.Second)
		r.setDoor(false)
		r.advance(5 * time.Minute)
		s := r.want(lock.Unlocked, lock.DoorAjar, lock.SourceDoor)
		if !strings.Contains(s.Reason, "auto-relock waits") {
			t.Fatalf("Reason %q, want it to say the relock waits for the door", s.Reason)
		}
		r.setDoor(true)
		closed := r.fc.Now()
		r.advance(relock - time.Millisecond)
		r.want(lock.Unlocked, lock.DoorClosed, lock.SourceDoor)
		r.advance(time.Millisecond)
		r.relockedAt(closed.Add(relock))
		if r.raised() != 1 {
			t.Fatalf("extend raised %d times, want once", r.raised())
		}
	})
	t.Run("unlocked with the door open", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 1, open: true, cfg: cfg})
		r.unlock()
		r.advance(2 * relock)
		r.want(lock.Unlocked, lock.DoorAjar, lock.SourceDoor)
		r.setDoor(true)
		closed := r.fc.Now()
		r.advance(relock)
		r.relockedAt(closed.Add(relock))
	})
	t.Run("a lock by hand cancels it; an unlock by hand arms it", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 1, cfg: cfg})
		r.unlock()
		r.advance(10 * time.Second)
		r.turn(1)
		r.want(lock.Locked, lock.DoorClosed, lock.SourceManual)
		r.advance(5 * time.Minute)
		r.turn(0)
		// Seen at the poll, up to 250 ms after the turn.
		_, times, _ := r.recorded()
		seen := times[len(times)-1]
		r.clearRecorded()
		r.advance(relock)
		r.relockedAt(seen.Add(relock))
	})
	t.Run("another unlock starts the count again", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 1, cfg: cfg})
		r.unlock()
		r.advance(20 * time.Second)
		at := r.unlock()
		r.advance(relock - time.Millisecond)
		r.want(lock.Unlocked, lock.DoorClosed, lock.SourceCommand)
		r.advance(time.Millisecond)
		r.relockedAt(at.Add(relock))
	})
	t.Run("no door contact", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 1, noDoor: true, cfg: cfg})
		at := r.unlock()
		r.advance(relock)
		r.settle()
		r.want(lock.Locked, lock.DoorUnknown, lock.SourceAutoRelock)
		if _, times, _ := r.recorded(); !times[0].Equal(at.Add(relock)) {
			t.Fatalf("relocked at %v, want %v", times[0], at.Add(relock))
		}
	})
	t.Run("door contact unreadable", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 1, cfg: cfg})
		r.unlock()
		r.doorPin.FailRead(errors.New("i2c: nack"))
		r.advance(contactEdgeWait)
		// A command's fresh read finds the contact failed: door unknown.
		if err := r.do(r.l.Unlock); err != nil {
			t.Fatal(err)
		}
		if err := r.do(r.l.Lock); err != nil {
			t.Fatal(err)
		}
		r.unlock()
		r.advance(2 * relock)
		r.want(lock.Unlocked, lock.DoorUnknown, lock.SourceCommand)
		if _, _, a := r.recorded(); len(a) != 0 {
			t.Fatalf("audits %+v: relocked with the door unknown", a)
		}
	})
	t.Run("a jam is audited and not retried", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 1, cfg: cfg})
		r.unlock()
		r.model.Obstruct(0.5)
		r.advance(relock)
		r.settle()
		r.want(lock.Jammed, lock.DoorClosed, lock.SourceAutoRelock)
		r.off()
		r.advance(10 * time.Minute)
		_, _, a := r.recorded()
		if len(a) != 1 || !errors.Is(a[0].err, lock.ErrJammed) || a[0].took < travel {
			t.Fatalf("audits %+v, want one jam after %s", a, travel)
		}
	})
	t.Run("off by default; not armed at start", func(t *testing.T) {
		for _, c := range []lock.Config{{}, cfg} {
			r := newRig(t, rigOpts{pos: 0, cfg: c})
			if c.AutoRelock == 0 {
				r.unlock()
			}
			r.advance(time.Hour)
			r.want(lock.Unlocked, lock.DoorClosed, r.lock().State().Source)
			if r.raised() != 0 {
				t.Fatalf("%+v: the bolt was thrown", c)
			}
		}
	})
	t.Run("halt cancels it", func(t *testing.T) {
		r := newRig(t, rigOpts{pos: 1, cfg: cfg})
		r.unlock()
		if err := r.l.Halt(); err != nil {
			t.Fatal(err)
		}
		r.advance(2 * relock)
		r.want(lock.Unlocked, lock.DoorClosed, lock.SourceCommand)
	})
}

func TestLock_Strike(t *testing.T) {
	r := newRig(t, rigOpts{strike: true})
	s := r.want(lock.Locked, lock.DoorClosed, lock.SourceStartup)
	if !strings.Contains(s.Reason, "commanded, not sensed") {
		t.Fatalf("Reason %q, want it to say the state is commanded", s.Reason)
	}
	start := r.fc.Now()
	var during lock.State
	var on bool
	err := r.doWith(r.ctx, r.l.Unlock, func(at time.Duration) {
		if at == time.Second {
			during, on = r.l.State(), r.coil.On()
			if err := r.l.Unlock(r.ctx); !errors.Is(err, lock.ErrBusy) {
				t.Errorf("a second Unlock: %v, want ErrBusy", err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if during.Bolt != lock.Unlocked || !on {
		t.Fatalf("during the pulse: %+v, coil on %t; want unlocked, on", during, on)
	}
	if took := r.fc.Since(start); took != 3*time.Second {
		t.Fatalf("Unlock took %s, want the 3s pulse", took)
	}
	r.want(lock.Locked, lock.DoorClosed, lock.SourceCommand)
	if r.coil.On() {
		t.Fatal("coil on after the pulse")
	}
	if got, want := r.bolts(), []lock.BoltState{lock.Unlocked, lock.Locked}; !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}

	// Lock during a release ends it.
	err = r.doWith(r.ctx, r.l.Unlock, func(at time.Duration) {
		if at == time.Second {
			if err := r.l.Lock(r.ctx); err != nil {
				t.Errorf("Lock()=%v", err)
			}
			if r.coil.On() {
				t.Error("coil on after Lock returned")
			}
			if got := r.l.State().Bolt; got != lock.Locked {
				t.Errorf("Bolt %s after Lock returned", got)
			}
		}
	})
	if !errors.Is(err, strikeErrHalted) {
		t.Fatalf("Unlock()=%v, want strike.ErrHalted", err)
	}

	// The door rule holds for a strike too; Unlock does not care.
	r.setDoor(false)
	if err := r.l.Lock(r.ctx); !errors.Is(err, lock.ErrDoorOpen) {
		t.Fatalf("Lock()=%v with the door open, want ErrDoorOpen", err)
	}
	if err := r.do(r.l.Unlock); err != nil {
		t.Fatal(err)
	}
	r.want(lock.Locked, lock.DoorOpen, lock.SourceCommand)
}
