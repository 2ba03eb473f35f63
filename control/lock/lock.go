package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-hub/hearth/drivers/bolt"
)

// Bolt is a motorised deadbolt; *bolt.Dev satisfies it.
type Bolt interface {
	Extend(ctx context.Context) error
	Retract(ctx context.Context) error
	Position() (bolt.Position, error)
	Halt() error
}

// Strike is an electric strike pulsed open; *strike.Dev satisfies it.
type Strike interface {
	Release(ctx context.Context) error
	Halt() error
}

// The kinds of failure, for errors.Is.
var (
	// ErrDoorOpen: Lock refused (and moved nothing) because the door
	// contact says open or ajar, or stopped the bolt because the door
	// opened while it was being thrown.
	ErrDoorOpen = errors.New("lock: door open")
	// ErrJammed: the bolt did not reach its limit switch in time. The
	// error also wraps the bolt driver's bolt.ErrJammed.
	ErrJammed = errors.New("lock: jammed")
	// ErrBusy: another Lock or Unlock is running; nothing was done.
	ErrBusy = errors.New("lock: busy: another operation is running")
)

// errDoorOpened is what stops a bolt being thrown when the door opens.
var errDoorOpened = errors.New("the door opened")

// Defaults for the zero fields of Config.
const (
	DefaultAjar      = 60 * time.Second
	DefaultPollEvery = 250 * time.Millisecond
	// MinAutoRelock is the shortest auto-relock: any shorter and the bolt
	// is thrown again before a person has had time to open the door.
	MinAutoRelock = 5 * time.Second
)

// Config configures a Lock. The zero value is valid: no auto-relock, ajar
// after 60 s, the switches read every 250 ms, the real clock.
type Config struct {
	AutoRelock time.Duration // 0: off; else relock this long after an unlock, once the door is closed
	Ajar       time.Duration // 0: 60s; a door open longer than this is ajar
	PollEvery  time.Duration // 0: 250ms; how often Run reads the bolt's switches
	Clock      clockwork.Clock
}

// BoltState is what the lock reports about its bolt (or strike).
type BoltState string

// The bolt states.
const (
	Locked    BoltState = "locked"    // the extended switch read closed
	Unlocked  BoltState = "unlocked"  // the retracted switch read closed
	Locking   BoltState = "locking"   // a Lock is driving the bolt
	Unlocking BoltState = "unlocking" // an Unlock is driving the bolt
	Jammed    BoltState = "jammed"    // a command did not reach its switch in time
	Unknown   BoltState = "unknown"   // not sensed: see Reason
)

// DoorState is what the door contact says.
type DoorState string

// The door states.
const (
	DoorOpen    DoorState = "open"
	DoorClosed  DoorState = "closed"
	DoorAjar    DoorState = "ajar"    // open longer than Config.Ajar
	DoorUnknown DoorState = "unknown" // no contact, or its read failed
)

// What caused the last change of State.
const (
	SourceCommand    = "command"     // Lock, Unlock
	SourceManual     = "manual"      // a turn by hand, seen on the switches
	SourceAutoRelock = "auto_relock" // the auto-relock timer
	SourceStartup    = "startup"     // New's reading
	SourceDoor       = "door"        // the door opened, closed, or went ajar
	SourceSensor     = "sensor"      // a switch read failed or recovered, the bolt unmoved
)

// State is the lock as sensed.
type State struct {
	Bolt   BoltState
	Door   DoorState
	Reason string // for people, when Bolt needs explaining or a command was refused
	Source string // what caused the last change
}

type opKind int

const (
	opNone opKind = iota
	opLock
	opUnlock
)

// Lock is the state machine of one door's lock. It is safe for
// concurrent use.
type Lock struct {
	cfg        Config
	clock      clockwork.Clock
	bolt       Bolt
	strike     Strike
	doorClosed func() (bool, error)

	// cmdMu orders a stop (DoorChanged, Halt) with the start of the next
	// operation, so that a Halt meant for one operation never stops the
	// next. It is never taken while mu is held.
	cmdMu sync.Mutex

	mu sync.Mutex
	// What the switches said at the last reading.
	pos    bolt.Position // from the last successful reading
	posErr error         // the last reading failed
	// The running operation.
	busy     bool // an operation holds the slot
	op       opKind
	cancel   context.CancelCauseFunc
	opDone   chan struct{}
	doorStop bool  // the door opened while the bolt was being thrown
	stopErr  error // Halt failed when the door opened
	gen      uint64
	started  uint64
	// Explanations.
	jam      string // non-empty: jammed, with this reason
	note     string // why the last command failed or was refused
	doorNote bool   // note is about the door: cleared when it closes
	// The door.
	door      DoorState
	hasDoor   bool // a contact is configured or has reported
	openSince time.Time
	doorGen   uint64
	// Auto-relock: armed by an unlock; counts from relockFrom, which is
	// zero while the door is not known closed.
	armed      bool
	relockFrom time.Time
	// Change delivery.
	source     string
	last       State
	queue      []State
	delivering bool
	fns        []func(State)
	audit      func(action string, err error, took time.Duration)
	// Run.
	running    bool
	kick       chan struct{}
	kicks      uint64
	runWaiting bool
	runSeen    uint64
	runUntil   time.Time
	watch      chan struct{} // closed and replaced on a change tests wait for
}

// New reads the bolt's switches and the door and reports what it senses.
// It never moves the bolt. Exactly one of b and s is needed; doorClosed
// may be nil (no door contact). A switch that cannot be read is reported
// (State Unknown with the reason), not an error: only a bad Config or
// missing hardware is.
func New(cfg Config, b Bolt, s Strike, doorClosed func() (bool, error)) (*Lock, error) {
	if (b == nil) == (s == nil) {
		return nil, errors.New("lock: need a bolt or a strike, and not both")
	}
	switch {
	case cfg.AutoRelock < 0, cfg.AutoRelock > 0 && cfg.AutoRelock < MinAutoRelock:
		return nil, fmt.Errorf("lock: auto-relock %s: want 0 (off) or at least %s", cfg.AutoRelock, MinAutoRelock)
	case cfg.AutoRelock > 0 && b == nil:
		return nil, errors.New("lock: auto-relock needs a bolt: a strike relocks at the end of its pulse")
	case cfg.Ajar < 0:
		return nil, fmt.Errorf("lock: ajar %s: want 0 (60s) or more", cfg.Ajar)
	case cfg.PollEvery != 0 && (cfg.PollEvery < 10*time.Millisecond || cfg.PollEvery > 10*time.Second):
		return nil, fmt.Errorf("lock: poll every %s: want 0 (250ms) or 10ms..10s", cfg.PollEvery)
	}
	if cfg.Ajar == 0 {
		cfg.Ajar = DefaultAjar
	}
	if cfg.PollEvery == 0 {
		cfg.PollEvery = DefaultPollEvery
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	l := &Lock{
		cfg: cfg, clock: cfg.Clock, bolt: b, strike: s, doorClosed: doorClosed,
		door: DoorUnknown, hasDoor: doorClosed != nil, source: SourceStartup,
		kick: make(chan struct{}, 1), watch: make(chan struct{}),
	}
	if b != nil {
		l.pos, l.posErr = b.Position()
	}
	if doorClosed != nil {
		if c, err := doorClosed(); err == nil {
			l.setDoorLocked(c)
		}
	}
	l.source = SourceStartup
	l.last = l.stateLocked()
	return l, nil
}

// State is the lock as last sensed: the switches at the last reading
// (Run's poll, or the end of a command), the door at its last event.
func (l *Lock) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// OnChange adds fn, called with the new State on every change of it, in
// order, one call at a time, with no lock of l held: fn may call any
// method of l. A change made while fn runs is delivered when it returns,
// from the goroutine already delivering.
func (l *Lock) OnChange(fn func(State)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fns = append(l.fns[:len(l.fns):len(l.fns)], fn)
}

// SetAuditHook sets fn, called after every auto-relock attempt with the
// action ("lock"), its outcome and how long it took, so that the daemon
// can audit it as it audits commands. It is called before State shows
// the outcome and while the attempt still holds the operation slot, so
// the audit comes before anything that follows; a Lock or Unlock called
// meanwhile fails with ErrBusy. nil removes it.
func (l *Lock) SetAuditHook(fn func(action string, err error, took time.Duration)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.audit = fn
}

// boltLocked works out the bolt's state and its explanation; l.mu is held.
func (l *Lock) boltLocked() (BoltState, string) {
	if l.strike != nil {
		const why = "strike: commanded, not sensed"
		if l.op == opUnlock {
			return Unlocked, why + ": released for its pulse"
		}
		if l.note != "" {
			return Locked, l.note
		}
		return Locked, why
	}
	switch {
	case l.op == opLock:
		return Locking, ""
	case l.op == opUnlock:
		return Unlocking, ""
	case errors.Is(l.posErr, bolt.ErrSwitchFault):
		return Unknown, "switch fault: both limit switches read closed"
	case l.posErr != nil:
		return Unknown, "cannot read the limit switches: " + l.posErr.Error()
	case l.jam != "" && l.pos != bolt.Between:
		return Jammed, l.jam + "; it is at the " + l.pos.String() + " switch"
	case l.jam != "":
		return Jammed, l.jam
	case l.pos == bolt.Extended:
		return Locked, l.note
	case l.pos == bolt.Retracted:
		return Unlocked, l.note
	case l.note != "":
		return Unknown, "bolt between its limit switches: " + l.note
	}
	return Unknown, "bolt between its limit switches"
}

// stateLocked works out State; l.mu is held.
func (l *Lock) stateLocked() State {
	b, why := l.boltLocked()
	if why == "" && b == Unlocked && l.armed && !l.doorLetsRelockLocked() {
		why = "auto-relock waits for the door to close"
	}
	return State{Bolt: b, Door: l.door, Reason: why, Source: l.source}
}

// commitLocked records a possible change of State, arms or disarms the
// auto-relock, and queues the change for delivery; l.mu is held. The
// caller calls deliver once it has released l.mu.
func (l *Lock) commitLocked() {
	b, _ := l.boltLocked()
	if l.cfg.AutoRelock > 0 {
		switch {
		case b != Unlocked:
			l.armed = false
		case l.last.Bolt != Unlocked && (l.source == SourceCommand || l.source == SourceManual):
			l.armed = true
			l.relockFrom = time.Time{}
			if l.doorLetsRelockLocked() {
				l.relockFrom = l.clock.Now()
			}
		}
	}
	s := l.stateLocked()
	if s == l.last {
		return
	}
	l.last = s
	l.queue = append(l.queue, s)
	l.kickLocked()
}

// kickLocked makes Run look again; l.mu is held.
func (l *Lock) kickLocked() {
	l.kicks++
	select {
	case l.kick <- struct{}{}:
	default:
	}
	l.pokeLocked()
}

// pokeLocked wakes tests waiting for Run or an operation; l.mu is held.
func (l *Lock) pokeLocked() {
	close(l.watch)
	l.watch = make(chan struct{})
}

// deliver calls the OnChange functions with the queued changes, unless
// another goroutine is at it already.
func (l *Lock) deliver() {
	l.mu.Lock()
	if l.delivering {
		l.mu.Unlock()
		return
	}
	l.delivering = true
	defer func() {
		l.delivering = false
		l.mu.Unlock()
	}()
	for len(l.queue) > 0 {
		q, fns := l.queue, l.fns
		l.queue = nil
		l.mu.Unlock()
		func() {
			defer l.mu.Lock() // also if fn panics, so delivering is cleared
			for _, s := range q {
				for _, fn := range fns {
					fn(s)
				}
			}
		}()
	}
}

// setDoorLocked records what the door contact says and reports whether
// a running Lock must be stopped; l.mu is held.
func (l *Lock) setDoorLocked(closed bool) (stop bool) {
	l.doorGen++
	open := l.door == DoorOpen || l.door == DoorAjar
	switch {
	case closed && l.door != DoorClosed:
		l.door = DoorClosed
		if l.doorNote {
			l.note, l.doorNote = "", false
		}
		if l.armed {
			l.relockFrom = l.clock.Now()
		}
	case !closed && !open:
		l.door = DoorOpen
		l.openSince = l.clock.Now()
		l.relockFrom = time.Time{}
		if l.op == opLock && l.bolt != nil {
			l.doorStop = true
			l.cancel(errDoorOpened)
			stop = true
		}
	default:
		return false
	}
	l.source = SourceDoor
	return stop
}

// doorLetsRelockLocked: the door is known closed, or there is no contact
// to say otherwise; l.mu is held.
func (l *Lock) doorLetsRelockLocked() bool {
	return l.door == DoorClosed || !l.hasDoor && l.door == DoorUnknown
}

// DoorChanged records a debounced change of the door contact. A door
// opening while the bolt is being thrown stops the motor before
// DoorChanged returns; that Lock fails with ErrDoorOpen.
func (l *Lock) DoorChanged(closed bool) {
	l.cmdMu.Lock()
	l.mu.Lock()
	l.hasDoor = true
	stop := l.setDoorLocked(closed)
	l.commitLocked()
	l.mu.Unlock()
	if stop {
		if err := l.bolt.Halt(); err != nil {
			l.mu.Lock()
			l.stopErr = err
			l.mu.Unlock()
		}
	}
	l.cmdMu.Unlock()
	l.deliver()
}

// readDoor reads the door contact now, if there is one, for a Lock about
// to start; an event that arrives meanwhile wins over the reading. A
// failed read makes a closed door unknown but leaves an open one open:
// nothing sensed since says it closed.
func (l *Lock) readDoor() {
	if l.doorClosed == nil {
		return
	}
	l.mu.Lock()
	g := l.doorGen
	l.mu.Unlock()
	c, err := l.doorClosed()
	l.mu.Lock()
	if l.doorGen == g {
		if err != nil {
			if l.door == DoorClosed {
				l.door, l.source = DoorUnknown, SourceDoor
			}
		} else {
			l.setDoorLocked(c)
		}
		l.commitLocked()
	}
	l.mu.Unlock()
	l.deliver()
}

// Halt stops the bolt's motor (or the strike's coil) at once, ends the
// running operation with the driver's ErrHalted, and cancels a pending
// auto-relock.
func (l *Lock) Halt() error {
	defer l.deliver() // after cmdMu is released: fn may call Lock
	l.cmdMu.Lock()
	defer l.cmdMu.Unlock()
	l.mu.Lock()
	if l.busy {
		l.cancel(l.haltCause())
	}
	l.armed = false
	l.commitLocked()
	l.mu.Unlock()
	if l.bolt != nil {
		return l.bolt.Halt()
	}
	return l.strike.Halt()
}
