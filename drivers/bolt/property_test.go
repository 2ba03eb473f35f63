package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/drivers/bolt"
)

// Random sequences of commands and faults: whatever happens, the bridge
// inputs are never both high (the rig checks every change, and the
// model's Shorts at the end), the motor is off after every operation, a
// success means the switch says the bolt is there, and a jam is declared
// only after the travel timeout.
func TestDev_RandomSequences(t *testing.T) {
	for seed := range 60 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0x4845415254))
			r := newRig(t, rng.Float64())
			for range 10 {
				switch rng.IntN(8) {
				case 0:
					r.model.SetPosition(rng.Float64())
				case 1:
					r.model.Obstruct(rng.Float64())
				case 2:
					r.model.ClearObstruction()
				case 3:
					if err := r.d.Halt(); err != nil {
						t.Fatal(err)
					}
				case 4:
					r.queued(rng)
				default:
					r.randomMove(rng)
				}
				r.off()
			}
		})
	}
}

// randomMove runs an Extend or Retract with, maybe, something happening
// at a random moment of it.
func (r *rig) randomMove(rng *rand.Rand) {
	r.t.Helper()
	to, op := bolt.Extended, r.d.Extend
	if rng.IntN(2) == 0 {
		to, op = bolt.Retracted, r.d.Retract
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	when := time.Duration(rng.IntN(500)) * bolt.Poll
	what := rng.IntN(6)
	took, err := r.run(op, ctx, func(at time.Duration) {
		if at != when {
			return
		}
		switch what {
		case 0:
			cancel()
		case 1:
			_ = r.d.Halt()
		case 2:
			r.model.SetPosition(rng.Float64()) // someone turns the thumb-turn
		case 3:
			r.model.Obstruct(rng.Float64())
		case 4: // a brown-out resets the bridge lines; the driver carries on
			r.ext.Reset()
			r.ret.Reset()
		}
	})
	r.t.Logf("%s: %v after %s (event %d at %s)", verbOf(to), err, took, what, when)
	r.off()
	switch {
	case err == nil:
		r.position(to)
	case errors.Is(err, bolt.ErrJammed):
		if took < 2*time.Second {
			r.t.Fatalf("%s after %s, before the travel timeout", err, took)
		}
	case errors.Is(err, context.Canceled) && what == 0, errors.Is(err, bolt.ErrHalted) && what == 1:
	default:
		r.t.Fatalf("%s: unexpected error %v", to, err)
	}
}

// queued starts a second operation while one runs: it waits, then runs.
func (r *rig) queued(rng *rand.Rand) {
	r.t.Helper()
	first, second := r.d.Extend, r.d.Retract
	if rng.IntN(2) == 0 {
		first, second = second, first
	}
	when := time.Duration(rng.IntN(100)) * bolt.Poll
	done := make(chan error, 1)
	started := false
	_, err := r.run(first, r.ctx, func(at time.Duration) {
		if at == when {
			started = true
			go func() { done <- second(r.ctx) }()
		}
	})
	if err != nil && !errors.Is(err, bolt.ErrJammed) {
		r.t.Fatalf("first: %v", err)
	}
	if !started { // the first ended before when
		return
	}
	_, err = r.run(func(context.Context) error { return <-done }, r.ctx, nil)
	if err != nil && !errors.Is(err, bolt.ErrJammed) {
		r.t.Fatalf("second: %v", err)
	}
}

func verbOf(to bolt.Position) string {
	if to == bolt.Extended {
		return "extend"
	}
	return "retract"
}
