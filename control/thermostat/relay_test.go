package thermostat

import (
	"testing"
	"time"
)

// TestController_RelayUnavailable covers a relay that errors: its state is
// taken to be the worst for timing, and no minimum time gets shorter.
func TestController_RelayUnavailable(t *testing.T) {
	t.Run("outage mid-run keeps the on time", func(t *testing.T) {
		r := newRig(t, heatPumpConfig(), cool(24), longAgo)
		start := r.until(time.Minute, 26, cooling)
		r.hold(time.Minute, 26)
		r.p.down.Cool = true
		d := r.hold(20*time.Second, 26)
		if !d.Out.Cool {
			t.Fatalf("cooling dropped while the relay was unavailable")
		}
		r.p.down.Cool = false
		d = r.hold(10*time.Second, 23.9)
		// On since the read-back after start: min-on not restarted by the outage.
		left := 3*time.Minute - (r.now - (start + 10*time.Second))
		if got, want := d.Reason, "compressor min-on: "+string(appendLeft(nil, left)); got != want {
			t.Fatalf("Reason=%q, want %q", got, want)
		}
	})
	t.Run("stop during an outage counts from the return", func(t *testing.T) {
		r := newRig(t, heatPumpConfig(), cool(24), longAgo)
		r.until(time.Minute, 26, cooling)
		r.hold(4*time.Minute, 26)
		r.p.down.Cool, r.p.writeThrough = true, true // the write works, the read-back fails
		r.until(20*time.Second, 23.5, notCooling)
		r.hold(time.Minute, 26) // the call is back: no restart while in doubt
		if r.last.Out.Cool || r.p.phys.Cool {
			t.Fatalf("Out.Cool=%v phys=%v, want off", r.last.Out.Cool, r.p.phys.Cool)
		}
		r.p.down.Cool = false
		back := r.now + 10*time.Second
		start := r.until(10*time.Minute, 26, cooling)
		if start-back < 5*time.Minute {
			t.Fatalf("restarted %v after the relay came back, want the full min-off from then", start-back)
		}
	})
	t.Run("failed stop: runs on, no cycle", func(t *testing.T) {
		r := newRig(t, heatPumpConfig(), cool(24), longAgo)
		r.until(time.Minute, 26, cooling)
		r.hold(4*time.Minute, 26)
		r.p.down.Cool = true // the write fails too
		r.until(20*time.Second, 23.5, notCooling)
		r.hold(time.Minute, 26)
		if r.last.Out.Cool || !r.p.phys.Cool {
			t.Fatalf("Out.Cool=%v phys=%v, want asked off, still physically on", r.last.Out.Cool, r.p.phys.Cool)
		}
		r.p.down.Cool = false
		// It reads back on: it never stopped, so it may simply go on.
		if d := r.hold(10*time.Second, 26); !d.Out.Cool || r.k.comp.starts != 1 {
			t.Fatalf("Out.Cool=%v starts=%d, want running on, one start", d.Out.Cool, r.k.comp.starts)
		}
	})
	t.Run("start into an outage", func(t *testing.T) {
		// Every retried write may be the one that closes the relay: its
		// minimum on time runs from when it reads back on.
		r := newRig(t, heatPumpConfig(), cool(24), longAgo)
		r.hold(10*time.Second, 24) // valve settles
		r.p.down.Cool = true
		r.until(30*time.Second, 26, cooling)
		r.hold(2*time.Minute, 26)
		r.p.writeThrough = true // this write closes it
		r.hold(10*time.Second, 23)
		r.p.writeThrough = false
		d := r.hold(5*time.Minute, 23)
		if !d.Out.Cool || d.Reason != "compressor min-on: held until its relay reads back on" || !hasAlert(d, "cool relay unavailable") {
			t.Fatalf("unconfirmed start: %+v, want held on, with an alert", d)
		}
		r.p.down.Cool = false
		back := r.now + 10*time.Second
		stop := r.until(5*time.Minute, 23, notCooling)
		if stop-back < 3*time.Minute {
			t.Fatalf("stopped %v after reading back on, want the 3m min-on", stop-back)
		}
		start := r.until(10*time.Minute, 26, cooling)
		if start-stop < 5*time.Minute {
			t.Fatalf("restarted %v after the stop", start-stop)
		}
	})
	t.Run("a start that never reads back is not held on unseen", func(t *testing.T) {
		r := newRig(t, furnaceACConfig(), cool(24), longAgo)
		r.p.down.Cool = true
		r.until(time.Minute, 30, cooling)
		d := r.hold(2*time.Hour, 30)
		if !hasAlert(d, "cool relay unavailable") || hasAlert(d, "max run") {
			t.Fatalf("after 2h: alerts %v, want relay unavailable only", d.Alerts)
		}
		if d = r.hold(time.Minute, 30); !hasAlert(d, "max run exceeded: cooling") {
			t.Fatalf("after 2h01m: alerts %v, want max run exceeded", d.Alerts)
		}
		r.p.down.Cool = false
		if d = r.hold(10*time.Second, 30); hasAlert(d, "cool relay unavailable") {
			t.Fatalf("relay back: alerts %v", d.Alerts)
		}
	})
	t.Run("unavailable and off: may start", func(t *testing.T) {
		r := newRig(t, furnaceConfig(), heat(21), longAgo)
		r.p.down.Heat = true
		r.until(30*time.Second, 20, heating)
		r.p.down.Heat = false
		r.hold(time.Minute, 20)
		if !r.last.Out.Heat || !r.p.phys.Heat {
			t.Fatalf("not heating after the relay came back")
		}
	})
}
