package gpiosim

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// BoltOpts describe a motorised deadbolt and its wiring.
type BoltOpts struct {
	// Extend and Retract are the H-bridge inputs: the driver's outputs.
	// A line that is not an output counts as low (the bridge's pull-down).
	Extend, Retract *Pin
	// Extended and Retracted are the limit switches: the driver's inputs.
	Extended, Retracted *Pin
	// SwitchHigh: a closed switch drives its line high. By default a
	// closed switch pulls it low (a switch to ground with a pull-up).
	SwitchHigh bool
	Travel     time.Duration // end to end at full drive; default 1.2s
	Zone       float64       // how near its end a switch closes; default 0.02
	Position   float64       // at start: 0 retracted .. 1 extended
	Clock      clockwork.Clock
}

// Bolt models a motorised deadbolt: a bolt at a position from 0
// (retracted) to 1 (extended) that moves at 1/Travel per second while one
// H-bridge input is high, stops at its ends, at an obstruction, and when
// the drive stops; limit switches close within Zone of each end. A person
// can turn it by hand (SetPosition). Both inputs high is a shoot-through
// fault: the bolt does not move and Shorts counts it. Position is worked
// out from the clock when looked at, and the switches change at the
// instants the bolt crosses into or out of their zones.
type Bolt struct {
	o     BoltOpts
	clock clockwork.Clock

	mu        sync.Mutex
	pos       float64
	dir       int // +1 extending, -1 retracting, 0 stopped
	since     time.Time
	obstacle  float64
	obstructs int // +1 blocks extension at obstacle, -1 retraction, 0 none
	shorts    int
	both      bool // both inputs are high now
}

// NewBolt builds the model and hangs it on its four lines.
func NewBolt(o BoltOpts) (*Bolt, error) {
	if o.Extend == nil || o.Retract == nil || o.Extended == nil || o.Retracted == nil {
		return nil, errors.New("gpiosim: bolt: four lines needed")
	}
	if o.Travel == 0 {
		o.Travel = 1200 * time.Millisecond
	}
	if o.Zone == 0 {
		o.Zone = 0.02
	}
	if o.Travel < 0 || o.Zone < 0 || o.Zone >= 0.5 || o.Position < 0 || o.Position > 1 {
		return nil, errors.New("gpiosim: bolt: travel, zone or position out of range")
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	b := &Bolt{o: o, clock: o.Clock, pos: o.Position, since: o.Clock.Now()}
	b.mu.Lock()
	b.driveChanged()
	b.mu.Unlock()
	o.Extend.OnChange(func(gpio.Level) { b.mu.Lock(); b.driveChanged(); b.mu.Unlock() })
	o.Retract.OnChange(func(gpio.Level) { b.mu.Lock(); b.driveChanged(); b.mu.Unlock() })
	return b, nil
}

func high(p *Pin) bool {
	l, out := p.Output()
	return out && l == gpio.High
}

// limits are how far the bolt can go in its direction of travel.
func (b *Bolt) limits() (lo, hi float64) {
	lo, hi = 0, 1
	if b.obstructs > 0 && b.obstacle >= b.pos {
		hi = b.obstacle
	}
	if b.obstructs < 0 && b.obstacle <= b.pos {
		lo = b.obstacle
	}
	return lo, hi
}

// integrate moves the bolt to where it is now; b.mu is held.
func (b *Bolt) integrate() {
	now := b.clock.Now()
	if b.dir != 0 {
		lo, hi := b.limits()
		p := b.pos + float64(b.dir)*now.Sub(b.since).Seconds()/b.o.Travel.Seconds()
		b.pos = math.Min(hi, math.Max(lo, p))
	}
	b.since = now
}

// driveChanged follows the H-bridge inputs; b.mu is held.
func (b *Bolt) driveChanged() {
	b.integrate()
	ext, ret := high(b.o.Extend), high(b.o.Retract)
	both := ext && ret
	if both && !b.both {
		b.shorts++
	}
	b.both = both
	switch {
	case both || !ext && !ret:
		b.dir = 0
	case ext:
		b.dir = 1
	default:
		b.dir = -1
	}
	b.plan()
}

// plan sets the switches for the position now and schedules their changes
// on the way to where the bolt will stop; b.mu is held.
func (b *Bolt) plan() {
	z := b.o.Zone
	retClosed, extClosed := b.pos <= z, b.pos >= 1-z
	var retLater, extLater []change
	if b.dir != 0 {
		lo, hi := b.limits()
		at := func(p float64) time.Time {
			return b.since.Add(time.Duration(math.Abs(p-b.pos) * float64(b.o.Travel)))
		}
		if b.dir > 0 {
			if retClosed && hi > z {
				retLater = []change{{at: at(z), level: b.level(false)}}
			}
			if !extClosed && hi >= 1-z {
				extLater = []change{{at: at(1 - z), level: b.level(true)}}
			}
		} else {
			if extClosed && lo < 1-z {
				extLater = []change{{at: at(1 - z), level: b.level(false)}}
			}
			if !retClosed && lo <= z {
				retLater = []change{{at: at(z), level: b.level(true)}}
			}
		}
	}
	b.o.Retracted.schedule(b.level(retClosed), retLater)
	b.o.Extended.schedule(b.level(extClosed), extLater)
}

func (b *Bolt) level(closed bool) gpio.Level { return gpio.Level(closed == b.o.SwitchHigh) }

// Position is where the bolt is: 0 retracted .. 1 extended.
func (b *Bolt) Position() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.integrate()
	return b.pos
}

// Driving is the motor's direction: +1 extending, -1 retracting, 0 off.
func (b *Bolt) Driving() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dir
}

// Shorts counts the times both H-bridge inputs went high together. A
// driver must keep it at zero.
func (b *Bolt) Shorts() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.shorts
}

// SetPosition turns the bolt by hand (the thumb-turn) to p.
func (b *Bolt) SetPosition(p float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.integrate()
	b.pos = math.Min(1, math.Max(0, p))
	b.plan()
}

// Obstruct puts something in the bolt's path at at (a misaligned strike
// plate, a warped door): the bolt stops there when it travels towards it
// and moves away from it freely. At or above the bolt it blocks
// extension; below, retraction.
func (b *Bolt) Obstruct(at float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.integrate()
	b.obstacle = math.Min(1, math.Max(0, at))
	b.obstructs = 1
	if b.obstacle < b.pos {
		b.obstructs = -1
	}
	b.plan()
}

// ClearObstruction removes the obstruction.
func (b *Bolt) ClearObstruction() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.integrate()
	b.obstructs = 0
	b.plan()
}
