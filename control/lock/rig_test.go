package lock_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/control/lock"
	"github.com/hearth-hub/hearth/drivers/bolt"
	"github.com/hearth-hub/hearth/drivers/contact"
	"github.com/hearth-hub/hearth/drivers/relay"
	"github.com/hearth-hub/hearth/drivers/strike"
	"github.com/hearth-hub/hearth/sim/gpiosim"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// travel is the bolt driver's travel timeout; the model takes 1.2 s end
// to end, and its switches close 1176 ms into a full stroke.
const (
	travel   = 2 * time.Second
	stroke   = 1176 * time.Millisecond
	debounce = 30 * time.Millisecond // contact.DefaultOpts
	poll     = lock.DefaultPollEvery
)

type rigOpts struct {
	pos    float64 // the bolt at start: 0 retracted .. 1 extended
	open   bool    // the door open at start
	noDoor bool    // no door contact
	strike bool    // a strike on a relay instead of the bolt
	noRun  bool    // do not start Run and the contact's Run
	cfg    lock.Config
}

type audit struct {
	action string
	err    error
	took   time.Duration
}

// rig is a Lock on the real drivers over the simulated house's parts,
// all on one fake clock: a bolt (or a strike on an active-low relay
// board) and a door whose reed switch feeds a debounced contact, whose
// events go to DoorChanged as the daemon's wiring does.
//
// It checks, on every change, what must always hold: the bolt's extend
// input is never raised between DoorChanged(false) and DoorChanged(true);
// the motor is not extending when DoorChanged(false) returns; and, at
// the end, the model saw no short.
type rig struct {
	t                             testing.TB
	ctx                           context.Context
	fc                            *clockwork.FakeClock
	ext, ret, extended, retracted *gpiosim.Pin
	model                         *gpiosim.Bolt
	b                             *bolt.Dev
	coil                          *gpiosim.Relay
	s                             *strike.Dev
	doorPin                       *gpiosim.Pin
	door                          *gpiosim.Door
	contact                       *contact.Dev
	stop                          func()

	mu       sync.Mutex
	l        *lock.Lock
	states   []lock.State
	at       []time.Time // when each state was delivered
	audits   []audit
	raises   int  // the extend input went high
	toldOpen bool // the lock was last told the door is open
}

func newRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	fc := clockwork.NewFakeClockAt(t0)
	r := &rig{t: t, ctx: ctx, fc: fc, stop: func() {}}
	var err error
	if o.strike {
		pin := gpiosim.NewPin("GPIO26", fc)
		r.coil = gpiosim.NewRelay(pin, true)
		rd, err := relay.New(pin, &relay.Opts{ActiveLow: true, ReadBack: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.s, err = strike.New(rd, &strike.Opts{Pulse: 3 * time.Second, Clock: fc}); err != nil {
			t.Fatal(err)
		}
	} else {
		r.ext, r.ret = gpiosim.NewPin("GPIO5", fc), gpiosim.NewPin("GPIO6", fc)
		r.extended, r.retracted = gpiosim.NewPin("GPIO13", fc), gpiosim.NewPin("GPIO19", fc)
		r.model, err = gpiosim.NewBolt(gpiosim.BoltOpts{Extend: r.ext, Retract: r.ret,
			Extended: r.extended, Retracted: r.retracted, Position: o.pos, Clock: fc})
		if err != nil {
			t.Fatal(err)
		}
		r.ext.OnChange(func(l gpio.Level) {
			if l != gpio.High {
				return
			}
			r.mu.Lock()
			r.raises++
			bad := r.toldOpen
			r.mu.Unlock()
			if bad {
				t.Error("the bolt was thrown while the lock knew the door was open")
			}
		})
		t.Cleanup(func() {
			if n := r.model.Shorts(); n != 0 {
				t.Errorf("the model saw %d shorts", n)
			}
		})
		r.b = r.newBolt()
	}
	if !o.noDoor {
		r.doorPin = gpiosim.NewPin("GPIO16", fc)
		r.door = gpiosim.NewDoor(r.doorPin, !o.open, false)
		co := contact.DefaultOpts()
		co.Clock = fc
		if r.contact, err = contact.New(r.doorPin, &co); err != nil {
			t.Fatal(err)
		}
		r.toldOpen = o.open
	}
	o.cfg.Clock = fc
	r.setLock(r.newLock(o.cfg))
	if !o.noRun {
		r.start()
	}
	return r
}

// newBolt is the bolt driver on the rig's lines.
func (r *rig) newBolt() *bolt.Dev {
	r.t.Helper()
	bo := bolt.DefaultOpts()
	bo.Extend, bo.Retract, bo.Extended, bo.Retracted = r.ext, r.ret, r.extended, r.retracted
	bo.Travel, bo.Clock = travel, r.fc
	d, err := bolt.New(&bo)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// newLock is a Lock on the rig's parts.
func (r *rig) newLock(cfg lock.Config) *lock.Lock {
	r.t.Helper()
	var doorClosed func() (bool, error)
	if r.contact != nil {
		doorClosed = r.contact.Closed
	}
	var l *lock.Lock
	var err error
	if r.s != nil {
		l, err = lock.New(cfg, nil, r.s, doorClosed)
	} else {
		l, err = lock.New(cfg, r.b, nil, doorClosed)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return l
}

// setLock makes l the rig's lock and records its changes and audits.
func (r *rig) setLock(l *lock.Lock) {
	r.mu.Lock()
	r.l, r.states, r.at, r.audits = l, nil, nil, nil
	r.mu.Unlock()
	l.OnChange(func(s lock.State) {
		if got := l.State(); got.Bolt == "" { // State may be called from fn
			r.t.Error("State() empty inside OnChange")
		}
		r.mu.Lock()
		r.states = append(r.states, s)
		r.at = append(r.at, r.fc.Now())
		r.mu.Unlock()
	})
	l.SetAuditHook(func(action string, err error, took time.Duration) {
		r.mu.Lock()
		r.audits = append(r.audits, audit{action, err, took})
		r.mu.Unlock()
	})
}

func (r *rig) lock() *lock.Lock {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.l
}

// doorEvent is the daemon's wiring of the contact to the lock.
func (r *rig) doorEvent(e contact.Event) {
	l := r.lock()
	if e.Closed {
		r.mu.Lock()
		r.toldOpen = false
		r.mu.Unlock()
		l.DoorChanged(true)
		return
	}
	l.DoorChanged(false)
	if r.model != nil && r.model.Driving() > 0 {
		r.t.Error("the motor still extends after DoorChanged(false) returned")
	}
	r.mu.Lock()
	r.toldOpen = true
	r.mu.Unlock()
}

// start runs the lock and the contact until stop or the end of the test.
func (r *rig) start() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(r.ctx)
	var wg sync.WaitGroup
	if r.contact != nil {
		wg.Go(func() {
			if err := r.contact.Run(ctx, r.doorEvent); err != nil {
				r.t.Error(err)
			}
		})
	}
	l := r.lock()
	wg.Go(func() {
		if err := l.Run(ctx); err != nil {
			r.t.Error(err)
		}
	})
	r.stop = func() {
		cancel()
		// The contact waits for an edge on the fake clock: end its wait.
		done, stop := context.WithCancel(r.ctx)
		defer stop()
		go func() { wg.Wait(); stop() }()
		for done.Err() == nil {
			if r.doorPin != nil && r.doorPin.BlockUntilWaiting(done) == nil {
				_ = r.doorPin.Halt()
			}
			if r.doorPin == nil {
				<-done.Done()
			}
		}
		if r.ctx.Err() != nil {
			r.t.Error("Run did not return")
		}
		r.stop = func() {}
	}
	r.t.Cleanup(func() { r.stop() })
	r.quiet()
}

// quiet returns once everything waits on the clock: the contact on its
// line, Run on its timer with every change seen, and a running operation
// on its timer.
func (r *rig) quiet() lock.Quiet {
	r.t.Helper()
	for {
		if r.doorPin != nil {
			if err := r.doorPin.BlockUntilWaiting(r.ctx); err != nil {
				r.t.Fatal("the contact does not wait: ", err)
			}
		}
		q, err := r.lock().WaitQuiet(r.ctx, nil)
		if err != nil {
			r.t.Fatal("Run does not wait: ", err)
		}
		if !q.Busy {
			return q
		}
		n := 1 // the operation's timer
		if r.doorPin != nil {
			n++
		}
		if !q.Until.IsZero() {
			n++
		}
		ctx, cancel := context.WithCancel(r.ctx)
		go func() {
			select {
			case <-q.Changed:
			case <-ctx.Done():
			}
			cancel()
		}()
		err = r.fc.BlockUntilContext(ctx, n)
		cancel()
		if r.ctx.Err() != nil {
			r.t.Fatal("the operation does not wait")
		}
		select {
		case <-q.Changed:
		default:
			if err == nil {
				return q
			}
		}
	}
}

// step moves the clock by up to d: never past Run's next timer, nor past
// an operation's next poll.
func (r *rig) step(q lock.Quiet, d time.Duration) {
	now := r.fc.Now()
	if q.Busy {
		d = min(d, bolt.Poll)
	}
	if q.Until.After(now) {
		d = min(d, q.Until.Sub(now))
	}
	r.fc.Advance(d)
}

// advance moves the clock by d, letting everything act on the way.
func (r *rig) advance(d time.Duration) {
	r.t.Helper()
	end := r.fc.Now().Add(d)
	for {
		q := r.quiet()
		if !r.fc.Now().Before(end) {
			return
		}
		r.step(q, end.Sub(r.fc.Now()))
	}
}

// settle moves the clock until no operation runs.
func (r *rig) settle() {
	r.t.Helper()
	for r.quiet().Busy {
		r.advance(bolt.Poll)
	}
}

// do runs op, which must take the operation slot, moving the clock while
// it runs; each, if not nil, is called before each step with the time
// elapsed.
func (r *rig) do(op func(context.Context) error) error {
	r.t.Helper()
	return r.doWith(r.ctx, op, nil)
}

func (r *rig) doWith(ctx context.Context, op func(context.Context) error, each func(time.Duration)) error {
	r.t.Helper()
	l := r.lock()
	started := l.Quiet().Started
	done := make(chan error, 1)
	go func() { done <- op(ctx) }()
	if _, err := l.WaitQuiet(r.ctx, func(q lock.Quiet) bool { return q.Started > started }); err != nil {
		r.t.Fatal("the operation did not start: ", err)
	}
	start := r.fc.Now()
	for {
		q := r.quiet()
		if !q.Busy {
			select {
			case err := <-done:
				r.quiet()
				return err
			case <-r.ctx.Done():
				r.t.Fatal("the operation did not return")
			}
		}
		if each != nil {
			each(r.fc.Since(start))
		}
		r.step(q, bolt.Poll)
	}
}

// setDoor opens or closes the door and waits for its debounced event.
func (r *rig) setDoor(closed bool) {
	r.t.Helper()
	if closed {
		r.door.Close()
	} else {
		r.door.Open()
	}
	r.advance(debounce)
}

// turn turns the bolt by hand and lets Run poll.
func (r *rig) turn(pos float64) {
	r.t.Helper()
	r.model.SetPosition(pos)
	r.advance(poll)
}

func (r *rig) recorded() ([]lock.State, []time.Time, []audit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.states), slices.Clone(r.at), slices.Clone(r.audits)
}

// bolts is the Bolt of each recorded change, repeats folded.
func (r *rig) bolts() []lock.BoltState {
	s, _, _ := r.recorded()
	var out []lock.BoltState
	for _, x := range s {
		if len(out) == 0 || out[len(out)-1] != x.Bolt {
			out = append(out, x.Bolt)
		}
	}
	return out
}

func (r *rig) clearRecorded() {
	r.mu.Lock()
	r.states, r.at, r.audits = nil, nil, nil
	r.mu.Unlock()
}

func (r *rig) raised() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.raises
}

// want checks State's bolt, door and source.
func (r *rig) want(b lock.BoltState, d lock.DoorState, source string) lock.State {
	r.t.Helper()
	s := r.lock().State()
	if s.Bolt != b || s.Door != d || s.Source != source {
		r.t.Fatalf("State()=%+v, want bolt %s, door %s, source %s", s, b, d, source)
	}
	return s
}

// off checks the motor is off.
func (r *rig) off() {
	r.t.Helper()
	if got := r.model.Driving(); got != 0 {
		r.t.Fatalf("motor driving %d, want off", got)
	}
}
