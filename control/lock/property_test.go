package lock_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/control/lock"
	"github.com/hearth-hub/hearth/drivers/bolt"
)

// Random sequences of commands, door changes, turns by hand,
// obstructions, halts and time passing, some of them in the middle of a
// command. Whatever happens:
//   - the bolt is never thrown between DoorChanged(false) and
//     DoorChanged(true), and is not extending when DoorChanged(false)
//     returns (the rig checks every change);
//   - the bridge inputs are never both high (the model's Shorts);
//   - once no command runs and Run has read the switches since the bolt
//     last moved, Bolt is locked only if the extended switch reads
//     closed now and the retracted one open, unlocked only the other way
//     round, unknown only with neither closed, never locking or
//     unlocking, and the motor is off;
//   - Door is closed while the door is shut, open or ajar while it is
//     open;
//   - a command that succeeds leaves the bolt at its switch; ErrJammed
//     leaves it jammed.
func TestLock_RandomSequences(t *testing.T) {
	seeds := 80
	if testing.Short() {
		seeds = 20
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0x4c4f434b))
			var cfg lock.Config
			if rng.IntN(2) == 0 {
				cfg.AutoRelock = time.Duration(5+rng.IntN(60)) * time.Second
			}
			r := newRig(t, rigOpts{pos: rng.Float64(), open: rng.IntN(4) == 0, cfg: cfg})
			r.check()
			for range 30 {
				r.randomStep(rng)
				r.check()
			}
		})
	}
}

func (r *rig) randomStep(rng *rand.Rand) {
	r.t.Helper()
	switch rng.IntN(10) {
	case 0, 1, 2:
		r.randomCommand(rng)
	case 3:
		r.setDoor(!r.door.Closed())
	case 4:
		r.turn([]float64{0, 1, rng.Float64()}[rng.IntN(3)])
	case 5:
		r.model.Obstruct(rng.Float64())
	case 6:
		r.model.ClearObstruction()
	case 7, 8:
		r.advance(time.Duration(rng.Int64N(int64(90 * time.Second))))
	case 9:
		if err := r.lock().Halt(); err != nil {
			r.t.Fatal(err)
		}
	}
}

// randomCommand runs a Lock or Unlock with, maybe, something happening
// at a random moment of it.
func (r *rig) randomCommand(rng *rand.Rand) {
	r.t.Helper()
	r.settle() // an auto-relock would refuse the command with ErrBusy
	l := r.lock()
	op, want := l.Lock, lock.Locked
	if rng.IntN(2) == 0 {
		op, want = l.Unlock, lock.Unlocked
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	when := time.Duration(rng.IntN(500)) * bolt.Poll
	what := rng.IntN(7)
	doorWasOpen := !r.door.Closed()
	err := r.doWith(ctx, op, func(at time.Duration) {
		if at != when {
			return
		}
		switch what {
		case 0:
			r.door.Open()
		case 1:
			r.door.Close()
		case 2:
			r.model.SetPosition(rng.Float64())
		case 3:
			r.model.Obstruct(rng.Float64())
		case 4:
			if err := l.Halt(); err != nil {
				r.t.Fatal(err)
			}
		case 5:
			cancel()
		}
	})
	s := l.State()
	switch {
	case err == nil:
		if s.Bolt != want {
			r.t.Fatalf("succeeded with State %+v, want %s", s, want)
		}
	case errors.Is(err, lock.ErrJammed):
		if s.Bolt != lock.Jammed {
			r.t.Fatalf("%v with State %+v, want jammed", err, s)
		}
	case errors.Is(err, lock.ErrDoorOpen):
		if want != lock.Locked || !doorWasOpen && what != 0 {
			r.t.Fatalf("%v: the door was not opened", err)
		}
	}
}

// check lets the clock run until a poll has read the switches with no
// command running, then checks State against the lines.
func (r *rig) check() {
	r.t.Helper()
	r.settle()
	r.advance(poll)
	r.settle()
	s := r.lock().State()
	closed := func(p interface{ Level() gpio.Level }) bool { return p.Level() == gpio.Low }
	ext, ret := closed(r.extended), closed(r.retracted)
	ok := true
	switch s.Bolt {
	case lock.Locked:
		ok = ext && !ret
	case lock.Unlocked:
		ok = ret && !ext
	case lock.Unknown:
		ok = !ext && !ret
	case lock.Locking, lock.Unlocking:
		ok = false
	}
	if !ok {
		r.t.Fatalf("State %+v with the switches extended %t, retracted %t (bolt at %v)", s, ext, ret, r.model.Position())
	}
	if d := r.model.Driving(); d != 0 {
		r.t.Fatalf("motor driving %d with no command running", d)
	}
	if n := r.model.Shorts(); n != 0 {
		r.t.Fatalf("the model saw %d shorts", n)
	}
	if shut := r.door.Closed(); shut && s.Door != lock.DoorClosed || !shut && s.Door != lock.DoorOpen && s.Door != lock.DoorAjar {
		r.t.Fatalf("door shut %t, State %+v", shut, s)
	}
}
