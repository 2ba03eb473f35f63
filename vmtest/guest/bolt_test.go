//go:build vmtest

package guest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/drivers/bolt"
)

// Limit switches to ground with the pull-up on: closed reads low.
const (
	limitOpen   = gpio.High
	limitClosed = gpio.Low
)

// motor plays the bolt's motor and its two limit switches: while exactly one
// drive line is high the bolt moves that way, and it closes the limit switch
// it reaches after travel. An obstructed bolt sticks half-way. It fails the
// test if it ever sees both drive lines high.
type motor struct {
	t                   testing.TB
	w                   *world // its mu guards the fields below
	extend, retract     *simLine
	extended, retracted *simLine
	travel              time.Duration

	obstruct bool
	fault    bool          // both switches closed, as a wiring fault would read
	pos      time.Duration // 0 is retracted, travel is extended
	last     time.Time
	driven   time.Duration // how long a drive line was high since reset
	bothHigh int
}

func newMotor(t *testing.T, travel time.Duration) *motor {
	m := &motor{
		t:         t,
		extend:    mustLine(t, lineExtend),
		retract:   mustLine(t, lineRetract),
		extended:  mustLine(t, lineExtended),
		retracted: mustLine(t, lineRetracted),
		travel:    travel,
		last:      time.Now(),
	}
	m.w = newWorld(t, m.step)
	m.w.mu.Lock()
	m.switches(m.w)
	m.w.mu.Unlock()
	t.Cleanup(func() {
		m.w.close()
		if m.bothHigh > 0 {
			t.Errorf("motor: both drive lines high in %d samples", m.bothHigh)
		}
	})
	return m
}

func (m *motor) step(w *world) {
	now := time.Now()
	dt := now.Sub(m.last)
	m.last = now
	ev, err1 := m.extend.value()
	rv, err2 := m.retract.value()
	if err := errors.Join(err1, err2); err != nil {
		m.t.Errorf("motor: %v", err)
		return
	}
	switch e, r := bool(ev), bool(rv); {
	case e && r:
		if m.bothHigh == 0 {
			m.t.Errorf("motor: extend and retract driven high together")
		}
		m.bothHigh++
		return
	case e:
		m.driven += dt
		m.pos += dt
		if limit := m.travel / 2; m.obstruct && m.pos > limit {
			m.pos = limit
		}
	case r:
		m.driven += dt
		m.pos -= dt
	}
	m.pos = max(0, min(m.pos, m.travel))
	m.switches(w)
}

// switches sets the limit switches from the position.
func (m *motor) switches(w *world) {
	ext, ret := limitOpen, limitOpen
	if m.pos >= m.travel || m.fault {
		ext = limitClosed
	}
	if m.pos <= 0 || m.fault {
		ret = limitClosed
	}
	w.setLocked(m.extended, ext)
	w.setLocked(m.retracted, ret)
}

func (m *motor) setObstruct(v bool) {
	m.w.mu.Lock()
	defer m.w.mu.Unlock()
	m.obstruct = v
}

func (m *motor) setFault(v bool) {
	m.w.mu.Lock()
	defer m.w.mu.Unlock()
	m.fault = v
	m.switches(m.w)
}

// takeDriven returns how long a drive line was high since the last call.
func (m *motor) takeDriven() time.Duration {
	m.w.mu.Lock()
	defer m.w.mu.Unlock()
	d := m.driven
	m.driven = 0
	return d
}

func (m *motor) position() time.Duration {
	m.w.mu.Lock()
	defer m.w.mu.Unlock()
	return m.pos
}

// mustBeStopped checks both drive lines are low now and a little later.
func (m *motor) mustBeStopped(t *testing.T, step string) {
	t.Helper()
	for range 2 {
		if e, r := m.extend.mustValue(t), m.retract.mustValue(t); e || r {
			t.Fatalf("%s: extend=%v retract=%v, want both low", step, e, r)
		}
		time.Sleep(4 * tick)
	}
}

func newBolt(t *testing.T, m *motor, travel time.Duration) *bolt.Dev {
	t.Helper()
	d, err := bolt.New(&bolt.Opts{
		Extend:         m.extend.pin,
		Retract:        m.retract.pin,
		Extended:       m.extended.pin,
		Retracted:      m.retracted.pin,
		LimitActiveLow: true,
		Travel:         travel,
		Clock:          clockwork.NewRealClock(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	m.mustBeStopped(t, "after New")
	m.extend.mustBeOutput(t)
	m.retract.mustBeOutput(t)
	return d
}

// mustReach waits for Position to report want: New's pull request moves
// the simulated switches until the world puts them back.
func mustReach(t *testing.T, d *bolt.Dev, want bolt.Position) {
	t.Helper()
	var got bolt.Position
	var err error
	if !eventually(2*time.Second, func() bool { got, err = d.Position(); return err == nil && got == want }) {
		t.Fatalf("Position()=%v, %v; want %v", got, err, want)
	}
}

func TestBolt_ExtendAndRetract(t *testing.T) {
	const motorTravel = 250 * time.Millisecond
	m := newMotor(t, motorTravel)
	d := newBolt(t, m, 2*time.Second)
	mustReach(t, d, bolt.Retracted)
	ctx := context.Background()

	for _, step := range []struct {
		name string
		do   func(context.Context) error
		pos  time.Duration
		want bolt.Position
	}{
		{"Extend", d.Extend, motorTravel, bolt.Extended},
		{"Retract", d.Retract, 0, bolt.Retracted},
		{"Extend again", d.Extend, motorTravel, bolt.Extended},
		{"Extend when extended", d.Extend, motorTravel, bolt.Extended},
	} {
		start := time.Now()
		if err := step.do(ctx); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		took := time.Since(start)
		m.mustBeStopped(t, step.name)
		if got := m.position(); got != step.pos {
			t.Fatalf("%s: bolt at %v of %v travel, want %v", step.name, got, motorTravel, step.pos)
		}
		pos, err := d.Position()
		if err != nil || pos != step.want {
			t.Fatalf("%s: Position()=%v, %v; want %v", step.name, pos, err, step.want)
		}
		t.Logf("%s: returned after %v, Position()=%v, drive lines low", step.name, took.Round(time.Millisecond), pos)
	}
}

func TestBolt_Jammed(t *testing.T) {
	const travel = 600 * time.Millisecond
	m := newMotor(t, 250*time.Millisecond)
	d := newBolt(t, m, travel)

	m.setObstruct(true)
	m.takeDriven()
	start := time.Now()
	err := d.Extend(context.Background())
	took := time.Since(start)
	if !errors.Is(err, bolt.ErrJammed) {
		t.Fatalf("Extend on an obstructed bolt: err=%v, want ErrJammed", err)
	}
	m.mustBeStopped(t, "after the jam")
	if took < travel-2*tick || took > travel+2*time.Second {
		t.Fatalf("Extend gave up after %v, want about the %v travel", took, travel)
	}
	if driven := m.takeDriven(); driven < travel*3/4 {
		t.Fatalf("motor driven only %v of the %v travel before giving up", driven, travel)
	}
	t.Logf("obstructed: Extend returned %q after %v, drive lines low", err, took.Round(time.Millisecond))

	m.setObstruct(false)
	if err := d.Retract(context.Background()); err != nil {
		t.Fatalf("Retract after the jam: %v", err)
	}
	m.mustBeStopped(t, "Retract after the jam")
	if got := m.position(); got != 0 {
		t.Fatalf("Retract after the jam: bolt at %v, want retracted", got)
	}
	t.Log("cleared: Retract brought the bolt home")
}

func TestBolt_Stops(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(*bolt.Dev, context.CancelFunc) error
		want error
	}{
		{"Halt", func(d *bolt.Dev, _ context.CancelFunc) error { return d.Halt() }, bolt.ErrHalted},
		{"context", func(_ *bolt.Dev, cancel context.CancelFunc) error { cancel(); return nil }, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMotor(t, 250*time.Millisecond)
			d := newBolt(t, m, 5*time.Second)
			m.setObstruct(true)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			finished := make(chan struct{})
			go func() { done <- d.Extend(ctx); close(finished) }()
			// Whatever happens, the motor stops before the lines are released.
			t.Cleanup(func() {
				cancel()
				_ = d.Halt()
				select {
				case <-finished:
				case <-time.After(2 * time.Second):
					t.Error("Extend did not return within 2 s of Halt")
				}
			})
			if !eventually(2*time.Second, func() bool { v, err := m.extend.value(); return err == nil && v == gpio.High }) {
				t.Fatal("Extend never drove the extend line")
			}
			time.Sleep(100 * time.Millisecond)
			start := time.Now()
			if err := tc.stop(d, cancel); err != nil {
				t.Fatalf("stop: %v", err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Fatalf("Extend stopped by %s: err=%v, want %v", tc.name, err, tc.want)
				}
				t.Logf("stopped by %s after %v: %v", tc.name, time.Since(start).Round(time.Millisecond), err)
			case <-time.After(2 * time.Second):
				t.Fatalf("Extend still running 2 s after %s", tc.name)
			}
			m.mustBeStopped(t, "after "+tc.name)
		})
	}
}

func TestBolt_SwitchFault(t *testing.T) {
	m := newMotor(t, 250*time.Millisecond)
	d := newBolt(t, m, 2*time.Second)
	m.setFault(true)
	var err error
	if !eventually(2*time.Second, func() bool { _, err = d.Position(); return errors.Is(err, bolt.ErrSwitchFault) }) {
		t.Fatalf("both switches closed: Position() err=%v, want ErrSwitchFault", err)
	}
	m.takeDriven()
	if err := d.Extend(context.Background()); !errors.Is(err, bolt.ErrSwitchFault) {
		t.Fatalf("Extend with both switches closed: err=%v, want ErrSwitchFault", err)
	}
	m.mustBeStopped(t, "after the fault")
	if driven := m.takeDriven(); driven > 0 {
		t.Fatalf("motor driven %v with both switches closed", driven)
	}
	t.Logf("both switches closed: %v; the motor never ran", err)
}
