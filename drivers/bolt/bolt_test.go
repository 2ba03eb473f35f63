package bolt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/drivers/bolt"
	"github.com/hearth-hub/hearth/sim/gpiosim"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// rig is the driver on a simulated bolt (1.2 s end to end) on a fake
// clock. Every rig checks, on every change of either bridge input, that
// they are never both high, and at the end that the model saw no short.
type rig struct {
	t                             *testing.T
	ctx                           context.Context
	fc                            *clockwork.FakeClock
	ext, ret, extended, retracted *gpiosim.Pin
	model                         *gpiosim.Bolt
	d                             *bolt.Dev
}

func newRig(t *testing.T, pos float64) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	fc := clockwork.NewFakeClockAt(t0)
	r := &rig{t: t, ctx: ctx, fc: fc,
		ext: gpiosim.NewPin("GPIO5", fc), ret: gpiosim.NewPin("GPIO6", fc),
		extended: gpiosim.NewPin("GPIO13", fc), retracted: gpiosim.NewPin("GPIO19", fc)}
	var err error
	r.model, err = gpiosim.NewBolt(gpiosim.BoltOpts{Extend: r.ext, Retract: r.ret, Extended: r.extended, Retracted: r.retracted, Position: pos, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	both := func(gpio.Level) {
		e, eo := r.ext.Output()
		x, xo := r.ret.Output()
		if eo && xo && e == gpio.High && x == gpio.High {
			t.Error("both bridge inputs high")
		}
	}
	r.ext.OnChange(both)
	r.ret.OnChange(both)
	r.d = r.newDev()
	t.Cleanup(func() {
		if n := r.model.Shorts(); n != 0 {
			t.Errorf("model saw %d shorts", n)
		}
	})
	return r
}

func (r *rig) newDev() *bolt.Dev {
	r.t.Helper()
	o := bolt.DefaultOpts()
	o.Extend, o.Retract, o.Extended, o.Retracted, o.Clock = r.ext, r.ret, r.extended, r.retracted, r.fc
	o.Travel = 2 * time.Second
	d, err := bolt.New(&o)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// run runs op, moving the clock one Poll at a time while op waits on it
// (its poll timer is the clock's only waiter), and calls each, if not
// nil, before each step with the time elapsed. It returns the time op
// took on the clock and its error.
func (r *rig) run(op func(context.Context) error, ctx context.Context, each func(time.Duration)) (time.Duration, error) {
	r.t.Helper()
	start := r.fc.Now()
	done := make(chan error, 1)
	opCtx, stop := context.WithCancel(r.ctx)
	defer stop()
	go func() {
		defer stop()
		done <- op(ctx)
	}()
	for {
		if err := r.fc.BlockUntilContext(opCtx, 1); err != nil {
			select {
			case err := <-done:
				return r.fc.Since(start), err
			case <-r.ctx.Done():
				r.t.Fatal("operation did not finish")
			}
		}
		if each != nil {
			each(r.fc.Since(start))
		}
		r.fc.Advance(bolt.Poll)
	}
}

// off checks the motor is off: both bridge inputs low outputs.
func (r *rig) off() {
	r.t.Helper()
	for _, p := range []*gpiosim.Pin{r.ext, r.ret} {
		if l, out := p.Output(); !out || l != gpio.Low {
			r.t.Fatalf("%s: output %t at %s, want a low output", p, out, l)
		}
	}
	if got := r.model.Driving(); got != 0 {
		r.t.Fatalf("motor driving %d", got)
	}
}

func (r *rig) position(want bolt.Position) {
	r.t.Helper()
	got, err := r.d.Position()
	if err != nil || got != want {
		r.t.Fatalf("Position()=%s,%v, want %s", got, err, want)
	}
}

func TestNew_MotorOffAtOnce(t *testing.T) {
	r := newRig(t, 0.5)
	_ = r.ext.Out(gpio.High) // a previous run left it driving
	r.fc.Advance(120 * time.Millisecond)
	r.newDev()
	r.off()
	before := r.model.Position()
	r.fc.Advance(time.Second)
	if got := r.model.Position(); got != before {
		t.Fatalf("the bolt moved after New: %v -> %v", before, got)
	}
	r.position(bolt.Between)
	if got, want := r.extended.Pull(), gpio.PullUp; got != want {
		t.Fatalf("switch pull %s, want %s", got, want)
	}
}

func TestDev_Extend(t *testing.T) {
	r := newRig(t, 0)
	r.position(bolt.Retracted)
	took, err := r.run(r.d.Extend, r.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.off()
	r.position(bolt.Extended)
	// The switch closes at 0.98 of 1.2 s: 1176 ms; seen at the next poll.
	if took < 1176*time.Millisecond || took > 1176*time.Millisecond+bolt.Poll {
		t.Fatalf("took %s, want 1176 ms .. +%s", took, bolt.Poll)
	}
	if p := r.model.Position(); p < 0.98 || p > 0.99 {
		t.Fatalf("model at %v, want stopped at the switch (0.98..0.99)", p)
	}
	_, err = r.run(r.d.Retract, r.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.off()
	r.position(bolt.Retracted)
}

func TestDev_AlreadyThere(t *testing.T) {
	r := newRig(t, 1)
	raised := 0
	r.ext.OnChange(func(l gpio.Level) {
		if l == gpio.High {
			raised++
		}
	})
	if err := r.d.Extend(r.ctx); err != nil {
		t.Fatal(err)
	}
	if raised != 0 {
		t.Fatal("the motor ran for a bolt already extended")
	}
	r.off()
}

func TestDev_Jammed(t *testing.T) {
	r := newRig(t, 0)
	r.model.Obstruct(0.6)
	took, err := r.run(r.d.Extend, r.ctx, nil)
	if !errors.Is(err, bolt.ErrJammed) {
		t.Fatalf("Extend()=%v, want ErrJammed", err)
	}
	if took < 2*time.Second || took > 2*time.Second+bolt.Poll {
		t.Fatalf("gave up after %s, want the 2 s travel timeout", took)
	}
	r.off()
	r.position(bolt.Between)
	if got := r.model.Position(); got != 0.6 {
		t.Fatalf("model at %v, want 0.6", got)
	}
	// It can still be withdrawn.
	if _, err := r.run(r.d.Retract, r.ctx, nil); err != nil {
		t.Fatal(err)
	}
	r.position(bolt.Retracted)
}

func TestDev_Cancel(t *testing.T) {
	r := newRig(t, 0)
	ctx, cancel := context.WithCancel(r.ctx)
	_, err := r.run(r.d.Extend, ctx, func(at time.Duration) {
		if at == 500*time.Millisecond {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Extend()=%v, want context.Canceled", err)
	}
	r.off()
	r.position(bolt.Between)
	p := r.model.Position()
	r.fc.Advance(time.Second)
	if got := r.model.Position(); got != p {
		t.Fatalf("the bolt moved after cancel: %v -> %v", p, got)
	}
}

func TestDev_Halt(t *testing.T) {
	r := newRig(t, 1)
	_, err := r.run(r.d.Retract, r.ctx, func(at time.Duration) {
		if at == 300*time.Millisecond {
			if err := r.d.Halt(); err != nil {
				t.Error(err)
			}
			r.off()
		}
	})
	if !errors.Is(err, bolt.ErrHalted) {
		t.Fatalf("Retract()=%v, want ErrHalted", err)
	}
	r.off()
}

func TestDev_WriteFails(t *testing.T) {
	boom := errors.New("boom")
	t.Run("raise", func(t *testing.T) {
		r := newRig(t, 0)
		r.ext.FailOut(boom)
		if err := r.d.Extend(r.ctx); !errors.Is(err, boom) {
			t.Fatalf("Extend()=%v, want boom", err)
		}
		r.ext.FailOut(nil)
		r.off()
	})
	t.Run("lower the other", func(t *testing.T) {
		r := newRig(t, 0)
		raised := false
		r.ext.OnChange(func(l gpio.Level) { raised = raised || l == gpio.High })
		r.ret.FailOut(boom)
		if err := r.d.Extend(r.ctx); !errors.Is(err, boom) {
			t.Fatalf("Extend()=%v, want boom", err)
		}
		if raised {
			t.Fatal("extend raised though retract could not be lowered")
		}
	})
	t.Run("the other reads high", func(t *testing.T) {
		r := newRig(t, 0)
		raised := false
		r.ext.OnChange(func(l gpio.Level) { raised = raised || l == gpio.High })
		r.ret.Stick(gpio.High)
		if err := r.d.Extend(r.ctx); err == nil {
			t.Fatal("Extend() succeeded with retract reading high")
		}
		if raised {
			t.Fatal("extend raised though retract reads high")
		}
	})
	t.Run("switch unreadable", func(t *testing.T) {
		r := newRig(t, 0)
		_, err := r.run(r.d.Extend, r.ctx, func(at time.Duration) {
			if at == 100*time.Millisecond {
				r.extended.FailRead(boom)
			}
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Extend()=%v, want boom", err)
		}
		r.off()
	})
}

// panicky is a limit switch whose read panics once armed.
type panicky struct {
	*gpiosim.Pin
	armed chan struct{}
}

func (p *panicky) ReadLevel() (gpio.Level, error) {
	select {
	case <-p.armed:
		panic("switch read exploded")
	default:
	}
	return p.Pin.ReadLevel()
}

func TestDev_PanicStopsMotor(t *testing.T) {
	r := newRig(t, 0)
	sw := &panicky{Pin: r.extended, armed: make(chan struct{})}
	o := bolt.DefaultOpts()
	o.Extend, o.Retract, o.Extended, o.Retracted, o.Clock = r.ext, r.ret, sw, r.retracted, r.fc
	d, err := bolt.New(&o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.run(func(ctx context.Context) (err error) {
		defer func() {
			if recover() != nil {
				err = errors.New("panicked")
			}
		}()
		return d.Extend(ctx)
	}, r.ctx, func(at time.Duration) {
		if at == 200*time.Millisecond {
			close(sw.armed)
		}
	})
	if err == nil || err.Error() != "panicked" {
		t.Fatalf("Extend()=%v, want a panic", err)
	}
	r.off()
}

func TestDev_SwitchFault(t *testing.T) {
	r := newRig(t, 0)
	r.extended.Stick(gpio.Low)
	if _, err := r.d.Position(); !errors.Is(err, bolt.ErrSwitchFault) {
		t.Fatalf("Position()=%v, want ErrSwitchFault", err)
	}
	if err := r.d.Extend(r.ctx); !errors.Is(err, bolt.ErrSwitchFault) {
		t.Fatalf("Extend()=%v, want ErrSwitchFault", err)
	}
	r.off()
	o := bolt.DefaultOpts()
	o.Extend, o.Retract, o.Extended, o.Retracted = r.ext, r.ret, r.extended, r.retracted
	if _, err := bolt.New(&o); !errors.Is(err, bolt.ErrSwitchFault) {
		t.Fatalf("New()=%v, want ErrSwitchFault", err)
	}
	r.off()
}

func TestDev_ManualTurn(t *testing.T) {
	r := newRig(t, 0)
	r.model.SetPosition(1)
	r.position(bolt.Extended)
	r.model.SetPosition(0.5)
	r.position(bolt.Between)
	r.model.SetPosition(0)
	r.position(bolt.Retracted)
}

// The power goes mid-travel: the board resets, the bridge inputs float
// (pulled down), the bolt stops. The daemon starting again reports
// Between and does not move it.
func TestDev_PowerLoss(t *testing.T) {
	r := newRig(t, 0)
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- r.d.Extend(ctx) }()
	for range 120 { // 600 ms
		if err := r.fc.BlockUntilContext(r.ctx, 1); err != nil {
			t.Fatal(err)
		}
		r.fc.Advance(bolt.Poll)
	}
	r.ext.Reset()
	r.ret.Reset()
	p := r.model.Position()
	if p < 0.4 || p > 0.6 {
		t.Fatalf("model at %v at the power cut, want about 0.5", p)
	}
	r.d = r.newDev()
	r.position(bolt.Between)
	r.off()
	cancel() // the old process is gone; its goroutine here winds down
	r.fc.Advance(bolt.Poll)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("old Extend()=%v", err)
	}
	r.fc.Advance(10 * time.Second)
	if got := r.model.Position(); got != p {
		t.Fatalf("the bolt moved after the restart: %v -> %v", p, got)
	}
	r.position(bolt.Between)
}

// A second operation waits for the running one; Halt ends both.
func TestDev_Serialised(t *testing.T) {
	r := newRig(t, 0)
	second := make(chan error, 1)
	_, err := r.run(r.d.Extend, r.ctx, func(at time.Duration) {
		if at == 100*time.Millisecond {
			go func() { second <- r.d.Retract(r.ctx) }()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// The retract now runs; finish it.
	_, err = r.run(func(context.Context) error { return <-second }, r.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.position(bolt.Retracted)

	waiting := make(chan error, 1)
	_, err = r.run(r.d.Extend, r.ctx, func(at time.Duration) {
		if at != 100*time.Millisecond {
			return
		}
		queued := make(chan struct{})
		bolt.SetTestHookQueued(func() { close(queued) })
		go func() { waiting <- r.d.Retract(r.ctx) }()
		<-queued
		bolt.SetTestHookQueued(nil)
		_ = r.d.Halt()
	})
	if !errors.Is(err, bolt.ErrHalted) {
		t.Fatalf("running Extend()=%v, want ErrHalted", err)
	}
	if err := <-waiting; !errors.Is(err, bolt.ErrHalted) {
		t.Fatalf("waiting Retract()=%v, want ErrHalted", err)
	}
	r.off()

	// A waiting operation gives up when its own ctx ends.
	ctx, cancel := context.WithCancel(r.ctx)
	_, err = r.run(r.d.Retract, r.ctx, func(at time.Duration) {
		if at == 50*time.Millisecond {
			cancel()
			if err := r.d.Extend(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("waiting Extend()=%v, want context.Canceled", err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNew_Invalid(t *testing.T) {
	fc := clockwork.NewFakeClock()
	p := func(n string) *gpiosim.Pin { return gpiosim.NewPin(n, fc) }
	if _, err := bolt.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := bolt.New(&bolt.Opts{Extend: p("a")}); err == nil {
		t.Error("New with one line succeeded")
	}
	o := bolt.Opts{Extend: p("a"), Retract: p("b"), Extended: p("c"), Retracted: p("d"), Travel: -time.Second}
	if _, err := bolt.New(&o); err == nil {
		t.Error("New with a negative travel succeeded")
	}
	if got, want := bolt.Extended.String(), "extended"; got != want {
		t.Errorf("String()=%q, want %q", got, want)
	}
}
