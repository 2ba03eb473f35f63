package strike_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/drivers/relay"
	"github.com/hearth-hub/hearth/drivers/strike"
	"github.com/hearth-hub/hearth/sim/gpiosim"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// rig is a strike on an active-low relay board on a fake clock; it
// records when the coil changes.
type rig struct {
	t    *testing.T
	ctx  context.Context
	fc   *clockwork.FakeClock
	pin  *gpiosim.Pin
	coil *gpiosim.Relay
	r    *relay.Dev
	d    *strike.Dev

	mu      sync.Mutex
	changes []time.Duration // since t0; on at even indexes
}

func newRig(t *testing.T, opts *strike.Opts) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	r := &rig{t: t, ctx: ctx, fc: clockwork.NewFakeClockAt(t0)}
	r.pin = gpiosim.NewPin("GPIO16", r.fc)
	_ = r.pin.Out(gpio.Low) // left energised by a previous run
	r.coil = gpiosim.NewRelay(r.pin, true)
	r.coil.OnChange(func(bool) {
		r.mu.Lock()
		r.changes = append(r.changes, r.fc.Since(t0))
		r.mu.Unlock()
	})
	var err error
	if r.r, err = relay.New(r.pin, &relay.Opts{ActiveLow: true, ReadBack: true}); err != nil {
		t.Fatal(err)
	}
	r.changes = nil
	if opts == nil {
		opts = &strike.Opts{}
	}
	opts.Clock = r.fc
	if r.d, err = strike.New(r.r, opts); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) recorded() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.changes...)
}

// release starts Release and returns once it waits on its timer.
func (r *rig) release(ctx context.Context) chan error {
	r.t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.d.Release(ctx) }()
	if err := r.fc.BlockUntilContext(r.ctx, 1); err != nil {
		r.t.Fatal(err)
	}
	return done
}

func TestNew_RelayOff(t *testing.T) {
	r := newRig(t, nil)
	if r.coil.On() || r.r.On() {
		t.Fatal("relay on after New")
	}
	if got, want := r.d.String(), "strike(relay(GPIO16))"; got != want {
		t.Fatalf("String()=%q, want %q", got, want)
	}
}

func TestDev_ReleasePulse(t *testing.T) {
	r := newRig(t, nil) // 3 s
	done := r.release(r.ctx)
	if !r.coil.On() {
		t.Fatal("coil off during the pulse")
	}
	r.fc.Advance(3*time.Second - time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Release returned early: %v", err)
	default:
	}
	if !r.coil.On() {
		t.Fatal("coil off before the pulse ended")
	}
	r.fc.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.coil.On() {
		t.Fatal("coil on after the pulse")
	}
	got := r.recorded()
	if len(got) != 2 || got[1]-got[0] != 3*time.Second {
		t.Fatalf("coil changes at %v, want on then off 3 s later", got)
	}
}

func TestDev_ReleaseCustomPulse(t *testing.T) {
	r := newRig(t, &strike.Opts{Pulse: 750 * time.Millisecond})
	done := r.release(r.ctx)
	r.fc.Advance(750 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := r.recorded(); len(got) != 2 || got[1]-got[0] != 750*time.Millisecond {
		t.Fatalf("coil changes at %v, want a 750 ms pulse", got)
	}
}

func TestDev_ReleaseCut(t *testing.T) {
	t.Run("ctx", func(t *testing.T) {
		r := newRig(t, nil)
		ctx, cancel := context.WithCancel(r.ctx)
		done := r.release(ctx)
		r.fc.Advance(time.Second)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Release()=%v, want context.Canceled", err)
		}
		if r.coil.On() {
			t.Fatal("coil on after cancel")
		}
	})
	t.Run("Halt", func(t *testing.T) {
		r := newRig(t, nil)
		done := r.release(r.ctx)
		r.fc.Advance(time.Second)
		if err := r.d.Halt(); err != nil {
			t.Fatal(err)
		}
		if r.coil.On() {
			t.Fatal("coil on after Halt")
		}
		if err := <-done; !errors.Is(err, strike.ErrHalted) {
			t.Fatalf("Release()=%v, want ErrHalted", err)
		}
	})
}

// The relay does not switch: Release fails and leaves it commanded off.
func TestDev_ReleaseRelayStuck(t *testing.T) {
	r := newRig(t, nil)
	r.coil.Stick(true)
	if err := r.d.Release(r.ctx); !errors.Is(err, relay.ErrReadBack) {
		t.Fatalf("Release()=%v, want ErrReadBack", err)
	}
	if l, _ := r.pin.Output(); l != gpio.High {
		t.Fatal("relay line left on")
	}
}

// A second Release waits for the first: two whole pulses, one after the
// other.
func TestDev_ReleaseSerialised(t *testing.T) {
	r := newRig(t, nil)
	first := r.release(r.ctx)
	second := make(chan error, 1)
	go func() { second <- r.d.Release(r.ctx) }()
	r.fc.Advance(3 * time.Second)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := r.fc.BlockUntilContext(r.ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.fc.Advance(3 * time.Second)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	got := r.recorded()
	if len(got) != 4 || got[1]-got[0] != 3*time.Second || got[3]-got[2] != 3*time.Second {
		t.Fatalf("coil changes at %v, want two 3 s pulses", got)
	}
}

func TestNew_Invalid(t *testing.T) {
	p := gpiosim.NewPin("GPIO16", nil)
	rl, err := relay.New(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pulse := range []time.Duration{-time.Second, strike.MaxPulse + time.Second} {
		if _, err := strike.New(rl, &strike.Opts{Pulse: pulse}); err == nil {
			t.Errorf("New with a %s pulse succeeded", pulse)
		}
	}
	if _, err := strike.New(nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}
