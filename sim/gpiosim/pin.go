package gpiosim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// maxPending is how many edges a line queues for WaitForEdge before it
// drops more, as the Linux GPIO character device does (16 per line).
const maxPending = 16

// change is a level the outside will put on a line at a given time.
type change struct {
	at    time.Time
	level gpio.Level
}

// sleeper is a caller of WaitForEdge that is waiting: since which change
// of the line, and until when (zero: no deadline).
type sleeper struct {
	seq   uint64
	until time.Time
}

// Pin is a simulated GPIO line. It implements gpio.PinIO for a driver: an
// output's level is observable (Level, Output, OnChange); an input's level
// is what the outside drives (SetInput, Bounce) or else what its pull
// gives, and changes of it queue edges for WaitForEdge. Faults: Stick (a
// line whose reading does not follow what drives it), FailOut, FailRead.
//
// WaitForEdge follows the periph contract: a negative timeout waits
// forever, zero only looks. It is safe for concurrent use.
type Pin struct {
	name  string
	num   int
	clock clockwork.Clock

	mu      sync.Mutex
	out     bool       // configured as an output
	outL    gpio.Level // what Out drives
	pull    gpio.Pull
	edge    gpio.Edge
	ext     gpio.Level // what the outside drives, when driven
	driven  bool
	level   gpio.Level // what the line carries
	sched   []change   // levels the outside will drive, by time
	stuck   bool
	stuckL  gpio.Level
	outErr  error
	readErr error

	pending  int           // edges not yet taken by WaitForEdge
	edges    uint64        // edges counted since NewPin
	seq      uint64        // changes of level, configuration or edges
	intr     uint64        // bumped by In and Halt: ends waits
	wake     chan struct{} // closed and replaced when seq moves
	notify   chan struct{} // closed and replaced when seq or sleepers change
	sleepers []*sleeper
	hooks    []func(gpio.Level)
}

var (
	_ gpio.PinIO  = (*Pin)(nil)
	_ pin.PinFunc = (*Pin)(nil)
)

// NewPin returns an input line with no pull, reading low, named name
// ("GPIO17"). A nil clock is the real clock. Number() is -1 (not a SoC
// GPIO) except for an expander's lines.
func NewPin(name string, clock clockwork.Clock) *Pin {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &Pin{name: name, num: -1, clock: clock, wake: make(chan struct{}), notify: make(chan struct{})}
}

// notes are hooks to call once the pin's lock is released, one call per
// level the line took.
type notes struct {
	hooks  []func(gpio.Level)
	levels []gpio.Level
}

func (n *notes) run() {
	for _, l := range n.levels {
		for _, h := range n.hooks {
			h(l)
		}
	}
}

// lineLevel is what the line carries: an output drives it; otherwise the
// outside, or the pull, or it floats and keeps its charge.
func (p *Pin) lineLevel() gpio.Level {
	switch {
	case p.out:
		return p.outL
	case p.driven:
		return p.ext
	case p.pull == gpio.PullUp:
		return gpio.High
	case p.pull == gpio.PullDown:
		return gpio.Low
	}
	return p.level
}

// changed records a change of configuration or level; p.mu is held.
func (p *Pin) changed(n *notes, wasOut bool) {
	old := p.level
	p.level = p.lineLevel()
	if old != p.level && !p.out {
		rising := p.level == gpio.High
		if p.edge == gpio.BothEdges || rising && p.edge == gpio.RisingEdge || !rising && p.edge == gpio.FallingEdge {
			p.edges++
			if p.pending < maxPending {
				p.pending++
			}
		}
	}
	if old != p.level || wasOut != p.out {
		n.hooks = p.hooks
		n.levels = append(n.levels, p.level)
	}
	p.signal()
}

// signal records a change of the line and wakes waiters; p.mu is held.
func (p *Pin) signal() {
	p.seq++
	close(p.wake)
	p.wake = make(chan struct{})
	p.poke()
}

// poke wakes BlockUntilWaiting only; p.mu is held.
func (p *Pin) poke() {
	close(p.notify)
	p.notify = make(chan struct{})
}

// catchUp applies the scheduled levels that are due; p.mu is held.
func (p *Pin) catchUp(n *notes) {
	if len(p.sched) == 0 {
		return
	}
	now := p.clock.Now()
	for len(p.sched) > 0 && !p.sched[0].at.After(now) {
		c := p.sched[0]
		p.sched = p.sched[1:]
		p.ext, p.driven = c.level, true
		p.changed(n, p.out)
	}
}

// String implements conn.Resource.
func (p *Pin) String() string { return p.name }

// Name implements pin.Pin.
func (p *Pin) Name() string { return p.name }

// Number implements pin.Pin.
func (p *Pin) Number() int { return p.num }

// Function implements pin.Pin.
func (p *Pin) Function() string { return string(p.Func()) }

// Func implements pin.PinFunc.
func (p *Pin) Func() pin.Func {
	l := p.Level()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.out && l == gpio.High:
		return gpio.OUT_HIGH
	case p.out:
		return gpio.OUT_LOW
	case l == gpio.High:
		return gpio.IN_HIGH
	}
	return gpio.IN_LOW
}

// SupportedFuncs implements pin.PinFunc.
func (p *Pin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT} }

// SetFunc implements pin.PinFunc.
func (p *Pin) SetFunc(f pin.Func) error {
	switch f {
	case gpio.IN:
		return p.In(gpio.PullNoChange, gpio.NoEdge)
	case gpio.IN_HIGH:
		return p.In(gpio.PullUp, gpio.NoEdge)
	case gpio.IN_LOW:
		return p.In(gpio.PullDown, gpio.NoEdge)
	case gpio.FLOAT:
		return p.In(gpio.Float, gpio.NoEdge)
	case gpio.OUT, gpio.OUT_LOW:
		return p.Out(gpio.Low)
	case gpio.OUT_HIGH:
		return p.Out(gpio.High)
	}
	return fmt.Errorf("gpiosim: %s: function %q not supported", p.name, f)
}

// Halt implements conn.Resource: it ends a pending WaitForEdge and leaves
// the line as it is.
func (p *Pin) Halt() error {
	p.mu.Lock()
	p.intr++
	p.signal()
	p.mu.Unlock()
	return nil
}

// In implements gpio.PinIn. It drops queued edges and ends a pending
// WaitForEdge.
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	if pull > gpio.PullUp || edge < gpio.NoEdge || edge > gpio.BothEdges {
		return fmt.Errorf("gpiosim: %s: In(%s, %s): invalid", p.name, pull, edge)
	}
	var n notes
	p.mu.Lock()
	p.catchUp(&n)
	wasOut := p.out
	p.out = false
	if pull != gpio.PullNoChange {
		p.pull = pull
	}
	p.edge = gpio.NoEdge // the change In makes is not an edge
	p.changed(&n, wasOut)
	p.edge = edge
	p.pending = 0
	p.intr++
	p.mu.Unlock()
	n.run()
	return nil
}

// Read implements gpio.PinIn: the line's level, or the level it is stuck
// at. With a read fault injected it returns Low, as periph's pins do.
func (p *Pin) Read() gpio.Level {
	l, err := p.ReadLevel()
	if err != nil {
		return gpio.Low
	}
	return l
}

// ReadLevel is Read with its failure reported. It reads an output's level
// without changing the line's direction (drivers that check what they
// drove look for this method).
func (p *Pin) ReadLevel() (gpio.Level, error) {
	var n notes
	p.mu.Lock()
	p.catchUp(&n)
	l, stuck, err := p.level, p.stuck, p.readErr
	if stuck {
		l = p.stuckL
	}
	p.mu.Unlock()
	n.run()
	if err != nil {
		return gpio.Low, fmt.Errorf("gpiosim: %s: read: %w", p.name, err)
	}
	return l, nil
}

// WaitForEdge implements gpio.PinIn.
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	var deadline time.Time
	if timeout >= 0 {
		deadline = p.clock.Now().Add(timeout)
	}
	var n notes
	defer func() { n.run() }()
	p.mu.Lock()
	defer p.mu.Unlock()
	intr := p.intr
	for {
		p.catchUp(&n)
		if p.pending > 0 {
			p.pending--
			return true
		}
		now := p.clock.Now()
		if p.intr != intr || timeout >= 0 && !now.Before(deadline) {
			return false
		}
		until := deadline
		if len(p.sched) > 0 && (until.IsZero() || p.sched[0].at.Before(until)) {
			until = p.sched[0].at
		}
		// The timer is made before the sleeper is visible to
		// BlockUntilWaiting, so a test cannot move a fake clock between.
		var t clockwork.Timer
		var tc <-chan time.Time
		if !until.IsZero() {
			t = p.clock.NewTimer(until.Sub(now))
			tc = t.Chan()
		}
		s := &sleeper{seq: p.seq, until: until}
		p.sleepers = append(p.sleepers, s)
		p.poke()
		wake := p.wake
		p.mu.Unlock()
		n.run()
		n = notes{}
		select {
		case <-wake:
		case <-tc:
		}
		if t != nil {
			t.Stop()
		}
		p.mu.Lock()
		p.sleepers = slices.DeleteFunc(p.sleepers, func(x *sleeper) bool { return x == s })
		p.poke()
	}
}

// BlockUntilWaiting blocks until a caller of WaitForEdge is waiting on the
// line with every edge taken, nothing changed since it began to wait, and
// its deadline still ahead on the clock; or until ctx ends. With a fake
// clock it tells a test that the driver watching the line has handled all
// the line did.
func (p *Pin) BlockUntilWaiting(ctx context.Context) error {
	for {
		p.mu.Lock()
		now := p.clock.Now()
		ok := slices.ContainsFunc(p.sleepers, func(s *sleeper) bool {
			return s.seq == p.seq && (s.until.IsZero() || s.until.After(now))
		})
		notify := p.notify
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Pull implements gpio.PinIn.
func (p *Pin) Pull() gpio.Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pull
}

// DefaultPull implements gpio.PinIn.
func (p *Pin) DefaultPull() gpio.Pull { return gpio.Float }

// Out implements gpio.PinOut. With a write fault injected it fails and the
// line does not change.
func (p *Pin) Out(l gpio.Level) error {
	var n notes
	p.mu.Lock()
	if err := p.outErr; err != nil {
		p.mu.Unlock()
		return fmt.Errorf("gpiosim: %s: out: %w", p.name, err)
	}
	p.catchUp(&n)
	wasOut := p.out
	p.out, p.outL = true, l
	p.changed(&n, wasOut)
	p.mu.Unlock()
	n.run()
	return nil
}

// PWM implements gpio.PinOut: not supported.
func (p *Pin) PWM(gpio.Duty, physic.Frequency) error {
	return fmt.Errorf("gpiosim: %s: PWM: %w", p.name, errors.ErrUnsupported)
}

// Level is the level the line carries now (what a meter would show),
// whatever Stick does to Read.
func (p *Pin) Level() gpio.Level {
	var n notes
	p.mu.Lock()
	p.catchUp(&n)
	l := p.level
	p.mu.Unlock()
	n.run()
	return l
}

// Output reports whether the line is an output and the level it drives.
func (p *Pin) Output() (level gpio.Level, isOutput bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outL, p.out
}

// Edges counts the edges the line has produced (taken or not).
func (p *Pin) Edges() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.edges
}

// OnChange calls fn with the new level whenever the line's level changes
// or it becomes or stops being an output. fn runs in the goroutine that
// caused the change, after the pin's lock is released.
func (p *Pin) OnChange(fn func(gpio.Level)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hooks = append(slices.Clip(p.hooks), fn)
}

// SetInput drives the line from outside at level (a switch, a sensor),
// cancelling a bounce in progress. On an output it takes effect when the
// line becomes an input.
func (p *Pin) SetInput(level gpio.Level) {
	p.schedule(level, nil)
}

// Release stops driving the line from outside: it reads what its pull
// gives (a switch opened onto a pulled-up line).
func (p *Pin) Release() {
	var n notes
	p.mu.Lock()
	p.sched = nil
	wasOut := p.out
	p.driven = false
	p.changed(&n, wasOut)
	p.mu.Unlock()
	n.run()
}

// Bounce drives the line to level now, then bounces it n times (back to
// the old level and to level again), one change every every on the clock:
// it settles at level after 2n changes.
func (p *Pin) Bounce(level gpio.Level, n int, every time.Duration) {
	now := p.clock.Now()
	var later []change
	for i := 1; i <= 2*n; i++ {
		l := level
		if i%2 == 1 {
			l = !level
		}
		later = append(later, change{at: now.Add(time.Duration(i) * every), level: l})
	}
	p.schedule(level, later)
}

// schedule drives level now and the changes later, replacing any schedule.
func (p *Pin) schedule(level gpio.Level, later []change) {
	var n notes
	p.mu.Lock()
	p.catchUp(&n)
	p.sched = later
	wasOut := p.out
	p.ext, p.driven = level, true
	p.changed(&n, wasOut)
	p.mu.Unlock()
	n.run()
}

// Stick makes Read return level whatever drives the line: a shorted line,
// a welded output stage, a relay board whose feedback does not follow.
func (p *Pin) Stick(level gpio.Level) {
	p.mu.Lock()
	p.stuck, p.stuckL = true, level
	p.poke()
	p.mu.Unlock()
}

// Unstick ends Stick.
func (p *Pin) Unstick() {
	p.mu.Lock()
	p.stuck = false
	p.poke()
	p.mu.Unlock()
}

// FailOut makes Out fail with err (nil: no fault) and leave the line.
func (p *Pin) FailOut(err error) {
	p.mu.Lock()
	p.outErr = err
	p.mu.Unlock()
}

// FailRead makes ReadLevel fail with err (nil: no fault); Read then
// returns Low.
func (p *Pin) FailRead(err error) {
	p.mu.Lock()
	p.readErr = err
	p.mu.Unlock()
}

// Reset returns the line to its power-on state: an input with no pull
// and no edge detection (a board rebooting, a power cut). What the
// outside drives stays.
func (p *Pin) Reset() {
	var n notes
	p.mu.Lock()
	p.catchUp(&n)
	wasOut := p.out
	p.out, p.outL, p.pull, p.edge = false, gpio.Low, gpio.Float, gpio.NoEdge
	p.pending = 0
	p.intr++
	p.changed(&n, wasOut)
	p.mu.Unlock()
	n.run()
}
