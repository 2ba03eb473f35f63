package strike

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3"

	"github.com/hearth-hub/hearth/drivers/relay"
)

// MaxPulse bounds Pulse: strikes and solenoids are not rated for
// continuous duty.
const MaxPulse = time.Minute

// ErrHalted: Halt ended the pulse early.
var ErrHalted = errors.New("strike: halted")

// Opts configure a strike.
type Opts struct {
	Pulse time.Duration   // how long Release energises it; zero: 3s
	Clock clockwork.Clock // nil: the real clock
}

// Dev is a strike on a relay. Releases are serialised: one called while
// another runs waits for it (or for its own ctx to end).
type Dev struct {
	r     *relay.Dev
	pulse time.Duration
	clock clockwork.Clock
	sem   chan struct{}

	mu     sync.Mutex
	cancel context.CancelCauseFunc
	halts  uint64
}

var _ conn.Resource = (*Dev)(nil)

// New switches the relay off at once and returns the strike.
func New(r *relay.Dev, opts *Opts) (*Dev, error) {
	if r == nil {
		return nil, errors.New("strike: no relay")
	}
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Pulse == 0 {
		o.Pulse = 3 * time.Second
	}
	if o.Pulse < 0 || o.Pulse > MaxPulse {
		return nil, fmt.Errorf("strike on %s: pulse %s out of range 0..%s", r, o.Pulse, MaxPulse)
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	d := &Dev{r: r, pulse: o.Pulse, clock: o.Clock, sem: make(chan struct{}, 1)}
	if err := r.Off(); err != nil {
		return nil, fmt.Errorf("%s: %w", d, err)
	}
	return d, nil
}

// Release energises the strike for Pulse on the clock, then switches it
// off and returns nil. If ctx ends or Halt is called first it switches off
// at once and returns an error wrapping ctx's error or ErrHalted. The
// relay is switched off on every return, and by a deferred call if
// anything panics.
func (d *Dev) Release(ctx context.Context) (err error) {
	d.mu.Lock()
	halts := d.halts
	d.mu.Unlock()
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting for the running release: %w", d, ctx.Err())
	}
	defer func() { <-d.sem }()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	d.mu.Lock()
	if d.halts != halts {
		d.mu.Unlock()
		return fmt.Errorf("%s: %w while waiting", d, ErrHalted)
	}
	d.cancel = cancel
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.cancel = nil
		d.mu.Unlock()
	}()
	defer func() {
		if offErr := d.r.Off(); offErr != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", d, offErr))
		}
	}()

	// Under d.mu so that a Halt is wholly before (no pulse) or after.
	d.mu.Lock()
	if ctx.Err() == nil {
		err = d.r.Set(true)
	}
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	start := d.clock.Now()
	t := d.clock.NewTimer(d.pulse)
	defer t.Stop()
	select {
	case <-t.Chan():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: cut short after %s of %s: %w", d, d.clock.Since(start), d.pulse, context.Cause(ctx))
	}
}

// Halt switches the strike off at once and ends a running Release, and
// any waiting for it, with ErrHalted.
func (d *Dev) Halt() error {
	d.mu.Lock()
	d.halts++
	if d.cancel != nil {
		d.cancel(ErrHalted)
	}
	d.mu.Unlock()
	return d.r.Off()
}

// String names the strike by its relay.
func (d *Dev) String() string { return "strike(" + d.r.String() + ")" }
