package gpiosim

import (
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Relay is a relay coil (or a relay board's input) on an output line. It
// follows the line: energised at High, or at Low when activeLow (most
// opto-isolated boards); a line that is not an output leaves it off, as
// the board's own pull does. A stuck relay does not follow.
type Relay struct {
	pin       *Pin
	activeLow bool

	mu       sync.Mutex
	on       bool
	stuck    bool
	switches int
	hooks    []func(on bool)
}

// NewRelay hangs a relay on pin.
func NewRelay(pin *Pin, activeLow bool) *Relay {
	r := &Relay{pin: pin, activeLow: activeLow}
	r.follow()
	pin.OnChange(func(gpio.Level) { r.follow() })
	return r
}

// energised is what the line asks of the coil.
func (r *Relay) energised() bool {
	l, out := r.pin.Output()
	return out && (l == gpio.High) != r.activeLow
}

func (r *Relay) follow() {
	want := r.energised()
	r.mu.Lock()
	if r.stuck || r.on == want {
		r.mu.Unlock()
		return
	}
	r.on = want
	r.switches++
	hooks := r.hooks
	r.mu.Unlock()
	for _, h := range hooks {
		h(want)
	}
}

// On reports whether the relay is energised.
func (r *Relay) On() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.on
}

// Switches counts the relay's changes of state.
func (r *Relay) Switches() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.switches
}

// OnChange calls fn with the relay's new state on each change, in the
// goroutine that moved the line.
func (r *Relay) OnChange(fn func(on bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hooks = append(r.hooks[:len(r.hooks):len(r.hooks)], fn)
}

// Stick freezes the relay in its present state (welded contacts, a dead
// coil) and, as a board with contact feedback would, makes its line read
// back that state; Stick(false) frees it and it follows its line again.
func (r *Relay) Stick(stuck bool) {
	r.mu.Lock()
	r.stuck = stuck
	on := r.on
	r.mu.Unlock()
	if stuck {
		r.pin.Stick(gpio.Level(on != r.activeLow))
		return
	}
	r.pin.Unstick()
	r.follow()
}

// Door is a door with a reed switch on an input line: the switch is closed
// while the door is shut. A closed switch pulls the line low, or drives it
// high when closedHigh; each change of the door can bounce.
type Door struct {
	pin        *Pin
	closedHigh bool

	mu      sync.Mutex
	closed  bool
	bounces int
	every   time.Duration
}

// NewDoor puts a door on pin, shut or not, and drives the line to match.
func NewDoor(pin *Pin, closed, closedHigh bool) *Door {
	d := &Door{pin: pin, closed: closed, closedHigh: closedHigh}
	pin.SetInput(d.level(closed))
	return d
}

func (d *Door) level(closed bool) gpio.Level { return gpio.Level(closed == d.closedHigh) }

// SetBounce makes each later change bounce n times, one change every
// every (a reed switch bounces for a millisecond or two).
func (d *Door) SetBounce(n int, every time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bounces, d.every = n, every
}

// Open opens the door.
func (d *Door) Open() { d.set(false) }

// Close shuts the door.
func (d *Door) Close() { d.set(true) }

func (d *Door) set(closed bool) {
	d.mu.Lock()
	d.closed = closed
	n, every := d.bounces, d.every
	d.mu.Unlock()
	d.pin.Bounce(d.level(closed), n, every)
}

// Closed reports whether the door is shut.
func (d *Door) Closed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}
