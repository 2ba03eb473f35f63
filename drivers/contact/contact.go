package contact

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// EdgeWait is the longest Run waits for an edge before it looks at the
// context and re-reads the line: it bounds how late Run notices that ctx
// ended and how late a missed edge is caught.
const EdgeWait = 100 * time.Millisecond

// Opts configure a contact. Start from DefaultOpts: a non-nil Opts is
// taken as it is, so its zero fields mean no pull change, active high, no
// debounce and the real clock.
type Opts struct {
	Pull gpio.Pull // the line's pull; DefaultOpts: gpio.PullUp
	// ActiveLow: "closed" reads low (a switch to ground with a pull-up).
	// DefaultOpts: true.
	ActiveLow bool
	// Debounce: a level must hold this long to count; bounces inside the
	// window are one event. DefaultOpts: 30ms.
	Debounce time.Duration
	Clock    clockwork.Clock // nil: the real clock
}

// DefaultOpts is a switch to ground with the line's pull-up, debounced for
// 30 ms.
func DefaultOpts() Opts {
	return Opts{Pull: gpio.PullUp, ActiveLow: true, Debounce: 30 * time.Millisecond}
}

// Event is a debounced change of the contact.
type Event struct {
	Closed bool
	At     time.Time // when the line settled at the new level (the clock's time)
}

// levelReader is what lines that can report a failed read (mcp23017 and
// gpiosim lines) offer beside Read, which returns Low on failure: a failure
// must not read as "closed".
type levelReader interface {
	ReadLevel() (gpio.Level, error)
}

// Dev is a contact on an input line. It is safe for concurrent use; one
// Run at a time.
type Dev struct {
	pin   gpio.PinIn
	opts  Opts
	clock clockwork.Clock

	mu      sync.Mutex
	closed  bool
	err     error // the last read failed
	running bool
}

// New configures pin as an input with the pull and both edges, and reads
// it once.
func New(pin gpio.PinIn, opts *Opts) (*Dev, error) {
	o := DefaultOpts()
	if opts != nil {
		o = *opts
	}
	if pin == nil {
		return nil, errors.New("contact: no pin")
	}
	if o.Pull > gpio.PullUp {
		return nil, fmt.Errorf("contact %s: invalid pull %s", pin.Name(), o.Pull)
	}
	if o.Debounce < 0 || o.Debounce > 10*time.Second {
		return nil, fmt.Errorf("contact %s: debounce %s out of range 0..10s", pin.Name(), o.Debounce)
	}
	d := &Dev{pin: pin, opts: o, clock: o.Clock}
	if d.clock == nil {
		d.clock = clockwork.NewRealClock()
	}
	if err := pin.In(o.Pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("%s: configure input: %w", d, err)
	}
	c, err := d.read()
	if err != nil {
		return nil, err
	}
	d.closed = c
	return d, nil
}

// read senses the contact now, undebounced.
func (d *Dev) read() (bool, error) {
	var l gpio.Level
	if r, ok := d.pin.(levelReader); ok {
		var err error
		if l, err = r.ReadLevel(); err != nil {
			return false, fmt.Errorf("%s: read: %w", d, err)
		}
	} else {
		l = d.pin.Read()
	}
	return (l == gpio.Low) == d.opts.ActiveLow, nil
}

// Closed reports the debounced state while Run runs, with the error of
// the last read if it failed. Without Run there is nothing to debounce
// with: it reads the line once and reports that.
func (d *Dev) Closed() (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running {
		return d.closed, d.err
	}
	c, err := d.read()
	if err != nil {
		return false, err
	}
	d.closed = c
	return c, nil
}

// Run watches the line until ctx ends, then returns nil; it calls fn once
// per debounced change, in Run's goroutine. Any edge restarts the
// debounce window. It waits for edges at most EdgeWait at a time, and
// re-reads the line after each wait, so ctx is honoured and a missed edge
// caught within EdgeWait. A failed read leaves the state as it was and
// makes Closed report the error until a read succeeds. A second Run while
// one runs fails.
func (d *Dev) Run(ctx context.Context, fn func(Event)) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return fmt.Errorf("%s: already running", d)
	}
	d.running = true
	stable := d.closed
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
	}()

	cand, err := d.read()
	d.setErr(err)
	if err != nil {
		cand = stable
	}
	since := d.clock.Now()
	for {
		now := d.clock.Now()
		if cand != stable && now.Sub(since) >= d.opts.Debounce {
			stable = cand
			d.mu.Lock()
			d.closed = stable
			d.mu.Unlock()
			fn(Event{Closed: stable, At: since})
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := EdgeWait
		if left := d.opts.Debounce - now.Sub(since); cand != stable && left < wait {
			wait = left
		}
		edge := d.pin.WaitForEdge(wait)
		c, err := d.read()
		d.setErr(err)
		if err != nil {
			continue
		}
		if edge || c != cand {
			cand, since = c, d.clock.Now()
		}
	}
}

func (d *Dev) setErr(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
}

// String names the contact by its line.
func (d *Dev) String() string { return "contact(" + d.pin.Name() + ")" }
