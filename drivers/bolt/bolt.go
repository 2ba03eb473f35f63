package bolt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
)

// Poll is how often a moving bolt's limit switch is read.
const Poll = 5 * time.Millisecond

// The kinds of failure, for errors.Is.
var (
	// ErrJammed: the bolt did not reach its limit switch within Travel.
	ErrJammed = errors.New("bolt: jammed")
	// ErrSwitchFault: both limit switches read closed, which no position
	// of the bolt explains (wiring, a failed switch, LimitActiveLow wrong).
	ErrSwitchFault = errors.New("bolt: both limit switches read closed")
	// ErrHalted: Halt stopped the operation.
	ErrHalted = errors.New("bolt: halted")
)

// Position is where the limit switches say the bolt is.
type Position int

// The positions.
const (
	Between   Position = iota // neither switch closed: moving, stopped midway, or jammed
	Extended                  // locked
	Retracted                 // unlocked
)

func (p Position) String() string {
	switch p {
	case Between:
		return "between"
	case Extended:
		return "extended"
	case Retracted:
		return "retracted"
	}
	return fmt.Sprintf("Position(%d)", int(p))
}

// Opts configure a bolt. Start from DefaultOpts and set the lines.
type Opts struct {
	Extend, Retract     gpio.PinOut // H-bridge inputs; never both high
	Extended, Retracted gpio.PinIn  // limit switches: closed = at that end
	// LimitActiveLow: a closed switch reads low (a switch to ground, the
	// line pulled up). Otherwise a closed switch reads high and the line
	// is pulled down, which an MCP23017 cannot do. DefaultOpts: true.
	LimitActiveLow bool
	// Travel: not at the limit this long after starting means jammed.
	// Zero: 5s.
	Travel time.Duration
	Clock  clockwork.Clock // nil: the real clock
}

// DefaultOpts are active-low limit switches and a 5 s travel timeout.
func DefaultOpts() Opts { return Opts{LimitActiveLow: true, Travel: 5 * time.Second} }

// levelReader: lines that report a failed read (mcp23017, gpiosim). Only
// those are read back after a write: periph's gpioioctl lines turn an
// output into a pulled-up input when Read() is called on it, which here
// would raise an H-bridge input.
type levelReader interface {
	ReadLevel() (gpio.Level, error)
}

// Dev is a motorised deadbolt. Its operations are serialised: an Extend
// or Retract called while another runs waits for it to finish (or for
// its own ctx to end). Halt does not wait: it stops the motor at once and
// ends the running operation, and those waiting, with ErrHalted.
type Dev struct {
	o     Opts
	clock clockwork.Clock
	sem   chan struct{} // held by the running operation

	outMu  sync.Mutex // serialises writes to the bridge inputs
	cancel context.CancelCauseFunc
	halts  uint64 // Halt calls: an operation queued before one does not start
}

var _ conn.Resource = (*Dev)(nil)

// New switches the motor off (both bridge inputs low) at once, configures
// the switches as inputs and reads them. It never moves the bolt. It fails
// if the switches cannot be read or both read closed.
func New(opts *Opts) (*Dev, error) {
	if opts == nil {
		return nil, errors.New("bolt: no options: the four lines are needed")
	}
	o := *opts
	if o.Extend == nil || o.Retract == nil || o.Extended == nil || o.Retracted == nil {
		return nil, errors.New("bolt: the four lines are needed")
	}
	if o.Travel == 0 {
		o.Travel = 5 * time.Second
	}
	if o.Travel < 0 || o.Travel > time.Minute {
		return nil, fmt.Errorf("bolt: travel %s out of range 0..1m", o.Travel)
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	d := &Dev{o: o, clock: o.Clock, sem: make(chan struct{}, 1)}
	if err := d.motorOff(); err != nil {
		return nil, err
	}
	pull := gpio.PullUp
	if !o.LimitActiveLow {
		pull = gpio.PullDown
	}
	for _, p := range []gpio.PinIn{o.Extended, o.Retracted} {
		if err := p.In(pull, gpio.NoEdge); err != nil {
			return nil, fmt.Errorf("%s: limit switch %s: %w", d, p.Name(), err)
		}
	}
	if _, err := d.Position(); err != nil {
		return nil, err
	}
	return d, nil
}

// closed reads one limit switch.
func (d *Dev) closed(p gpio.PinIn) (bool, error) {
	var l gpio.Level
	if r, ok := p.(levelReader); ok {
		var err error
		if l, err = r.ReadLevel(); err != nil {
			return false, fmt.Errorf("%s: limit switch %s: %w", d, p.Name(), err)
		}
	} else {
		l = p.Read()
	}
	return (l == gpio.Low) == d.o.LimitActiveLow, nil
}

// Position reads the limit switches; it does not move the bolt. Both
// closed is an error wrapping ErrSwitchFault.
func (d *Dev) Position() (Position, error) {
	ext, err := d.closed(d.o.Extended)
	if err != nil {
		return Between, err
	}
	ret, err := d.closed(d.o.Retracted)
	if err != nil {
		return Between, err
	}
	switch {
	case ext && ret:
		return Between, fmt.Errorf("%s: %w", d, ErrSwitchFault)
	case ext:
		return Extended, nil
	case ret:
		return Retracted, nil
	}
	return Between, nil
}

// Extend throws the bolt (locks): see Retract.
func (d *Dev) Extend(ctx context.Context) error { return d.move(ctx, Extended) }

// Retract withdraws the bolt (unlocks). It drives the motor until the
// Retracted switch closes, reading it every Poll on the clock, and
// returns nil; at once if the bolt is already there. It stops the motor
// and fails with an error wrapping ErrJammed if the switch has not closed
// within Travel, wrapping ctx's error if ctx ends, ErrHalted on Halt,
// ErrSwitchFault if both switches read closed, or the line's error if a
// read or write fails. The motor is switched off on every return, and by
// a deferred call if anything panics.
func (d *Dev) Retract(ctx context.Context) error { return d.move(ctx, Retracted) }

// testHookQueued, when set by a test, is called once an operation has
// taken its place behind the running one.
var testHookQueued func()

func (d *Dev) move(ctx context.Context, to Position) (err error) {
	d.outMu.Lock()
	halts := d.halts
	d.outMu.Unlock()
	if testHookQueued != nil {
		testHookQueued()
	}
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%s: %s: waiting for the running operation: %w", d, verb(to), ctx.Err())
	}
	defer func() { <-d.sem }()
	ctx, cancel := context.WithCancelCause(ctx)
	d.outMu.Lock()
	if d.halts != halts {
		d.outMu.Unlock()
		cancel(nil)
		return fmt.Errorf("%s: %s: %w while waiting", d, verb(to), ErrHalted)
	}
	d.cancel = cancel
	d.outMu.Unlock()
	defer func() {
		d.outMu.Lock()
		d.cancel = nil
		d.outMu.Unlock()
		cancel(nil)
	}()
	defer func() {
		if offErr := d.motorOff(); offErr != nil {
			err = errors.Join(err, offErr)
		}
	}()

	if at, err := d.Position(); err != nil || at == to {
		return err
	}
	if err := d.drive(ctx, to); err != nil {
		return err
	}
	start := d.clock.Now()
	t := d.clock.NewTimer(Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s: %w", d, verb(to), context.Cause(ctx))
		case <-t.Chan():
		}
		at, err := d.Position()
		if err != nil || at == to {
			return err
		}
		if took := d.clock.Since(start); took >= d.o.Travel {
			return fmt.Errorf("%s: %s: %s switch not closed after %s: %w", d, verb(to), to, took, ErrJammed)
		}
		t.Reset(Poll)
	}
}

func verb(to Position) string {
	if to == Extended {
		return "extend"
	}
	return "retract"
}

// drive starts the motor towards to: it lowers the other bridge input,
// checks it is low where the line can tell, and only then raises one.
func (d *Dev) drive(ctx context.Context, to Position) error {
	on, other := d.o.Extend, d.o.Retract
	if to == Retracted {
		on, other = other, on
	}
	d.outMu.Lock()
	defer d.outMu.Unlock()
	if ctx.Err() != nil {
		// Halt came first.
		return fmt.Errorf("%s: %s: %w", d, verb(to), context.Cause(ctx))
	}
	if err := other.Out(gpio.Low); err != nil {
		return fmt.Errorf("%s: %s: lower %s: %w", d, verb(to), other.Name(), err)
	}
	if r, ok := other.(levelReader); ok {
		l, err := r.ReadLevel()
		if err == nil && l != gpio.Low {
			err = errors.New("reads high after it was lowered")
		}
		if err != nil {
			return fmt.Errorf("%s: %s: not driving: %s: %w", d, verb(to), other.Name(), err)
		}
	}
	if err := on.Out(gpio.High); err != nil {
		return fmt.Errorf("%s: %s: raise %s: %w", d, verb(to), on.Name(), err)
	}
	return nil
}

// motorOff lowers both bridge inputs, trying both whatever fails.
func (d *Dev) motorOff() error {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	return d.lowerBoth()
}

// lowerBoth: d.outMu is held.
func (d *Dev) lowerBoth() error {
	var errs []error
	for _, p := range []gpio.PinOut{d.o.Extend, d.o.Retract} {
		if err := p.Out(gpio.Low); err != nil {
			errs = append(errs, fmt.Errorf("%s: motor off: lower %s: %w", d, p.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Halt switches the motor off at once and ends a running Extend or
// Retract, and any waiting for it, with ErrHalted.
func (d *Dev) Halt() error {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	d.halts++
	if d.cancel != nil {
		d.cancel(ErrHalted)
	}
	return d.lowerBoth()
}

// String names the bolt by its bridge inputs.
func (d *Dev) String() string {
	return "bolt(" + d.o.Extend.Name() + "/" + d.o.Retract.Name() + ")"
}
