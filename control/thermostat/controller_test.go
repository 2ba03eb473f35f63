package thermostat

import (
	"math"
	"testing"
	"time"
)

func TestController_Differentials(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		s     Settings
		steps []struct {
			c  float64
			on bool
		}
		out func(Decision) bool
	}{
		{"heat", furnaceConfig(), heat(21), []struct {
			c  float64
			on bool
		}{{20.6, false}, {20.51, false}, {20.5, true}, {20.9, true}, {20.99, true}, {21, false}, {20.6, false}, {20.4, true}},
			heating},
		{"cool", furnaceACConfig(), cool(24), []struct {
			c  float64
			on bool
		}{{24.4, false}, {24.5, true}, {24.1, true}, {24.01, true}, {24, false}, {24.4, false}, {24.6, true}},
			cooling},
		{"auto heat side", heatPumpConfig(), auto(20, 23), []struct {
			c  float64
			on bool
		}{{19.6, false}, {19.5, true}, {19.9, true}, {20, false}},
			heating},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.CompMinOn, tc.cfg.CompMinOff, tc.cfg.HeatMinOff = 0, 0, 0 // the band alone decides
			r := newRig(t, tc.cfg, tc.s, longAgo)
			r.hold(30*time.Second, tc.steps[0].c) // let the reversing valve settle
			for _, st := range tc.steps {
				d := r.hold(10*time.Second, st.c)
				if got, want := tc.out(d), st.on; got != want {
					t.Fatalf("at %g °C: on=%v, want %v (%s)", st.c, got, want, d.Reason)
				}
			}
		})
	}
}

// TestController_MinOffKept stops the compressor, does something that
// might restart it, and checks it waits its full minimum off time.
func TestController_MinOffKept(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(r *rig)
	}{
		{"nothing", func(r *rig) {}},
		{"setpoint change", func(r *rig) { _ = r.c.SetSettings(cool(22)) }},
		{"mode change", func(r *rig) {
			_ = r.c.SetSettings(Settings{Mode: ModeOff, Fan: FanAuto})
			r.hold(20*time.Second, 26)
			_ = r.c.SetSettings(cool(24))
		}},
		{"preset", func(r *rig) { _ = r.c.ApplyPreset(Preset{"cold", cool(20)}, time.Time{}) }},
		{"relay error", func(r *rig) {
			r.p.down.Cool = true
			r.hold(30*time.Second, 26)
			r.p.down.Cool = false
		}},
		{"relay error, write goes through", func(r *rig) {
			r.p.down.Cool, r.p.writeThrough = true, true
			r.hold(30*time.Second, 26)
			r.p.down.Cool = false
		}},
		{"config reload", func(r *rig) {
			cfg := r.c.Config()
			cfg.CompMinOff = 4 * time.Minute
			if err := r.c.SetConfig(cfg); err != nil {
				r.tb.Fatal(err)
			}
			r.k.reconfigure(cfg)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, heatPumpConfig(), cool(24), longAgo)
			r.until(time.Minute, 26, cooling)
			r.hold(5*time.Minute, 26)
			stop := r.until(20*time.Second, 23.5, notCooling)
			r.hold(10*time.Second, 23.5)
			tc.act(r)
			start := r.until(10*time.Minute, 26, cooling)
			minOff := r.c.Config().CompMinOff
			if gap := start - stop; gap < minOff || gap > minOff+40*time.Second {
				t.Fatalf("compressor restarted %v after it stopped, want %v (plus a step or three)", gap, minOff)
			}
		})
	}
}

// TestController_MinOnKept starts the compressor and tries to stop it at
// once: it runs its minimum on time.
func TestController_MinOnKept(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(r *rig)
	}{
		{"satisfied", func(r *rig) {}},
		{"mode off", func(r *rig) { _ = r.c.SetSettings(Settings{Mode: ModeOff, Fan: FanAuto}) }},
		{"mode cool", func(r *rig) { _ = r.c.SetSettings(cool(24)) }},
		{"relay error", func(r *rig) { r.hold(10*time.Second, 20); r.p.down.Heat = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, heatPumpConfig(), heat(21), longAgo)
			start := r.until(time.Minute, 20, heating)
			tc.act(r)
			d := r.hold(20*time.Second, 21.5)
			if !d.Out.Heat || d.Action != ActionHeating {
				t.Fatalf("after 20s: %+v, want still heating", d)
			}
			left := 3*time.Minute - (r.now - (start + 10*time.Second)) // on since read back on
			if got, want := d.Reason, "compressor min-on: "+string(appendLeft(nil, left)); got != want {
				t.Fatalf("Reason=%q, want %q", got, want)
			}
			r.p.down.Heat = false
			stop := r.until(5*time.Minute, 21.5, notHeating)
			if on := stop - start; on < 3*time.Minute || on > 3*time.Minute+30*time.Second {
				t.Fatalf("ran %v, want the 3m minimum (plus a step or two)", on)
			}
		})
	}
}

func TestController_FanOverrun(t *testing.T) {
	r := newRig(t, furnaceConfig(), heat(21), longAgo)
	r.until(time.Minute, 20, heating)
	if !r.last.Out.Fan {
		t.Fatalf("fan off while heating")
	}
	stop := r.until(time.Minute, 21, notHeating)
	d := r.hold(10*time.Second, 21)
	if got, want := d.Reason, "fan overrun: 50s left"; got != want || d.Action != ActionFan {
		t.Fatalf("Reason=%q Action=%s, want %q fan", got, d.Action, want)
	}
	end := r.until(2*time.Minute, 21, func(d Decision) bool { return !d.Out.Fan })
	if got, want := end-stop, time.Minute; got != want {
		t.Fatalf("fan ran %v after heating stopped, want %v", got, want)
	}
	if got, want := r.last.Action, ActionIdle; got != want {
		t.Fatalf("Action=%s, want %s", got, want)
	}
}

func TestController_Stage2(t *testing.T) {
	cfg := furnaceConfig()
	cfg.HasHeat2 = true
	t.Run("after Stage2After", func(t *testing.T) {
		r := newRig(t, cfg, heat(21), longAgo)
		start := r.until(time.Minute, 20.4, heating)
		at := r.until(15*time.Minute, 20.4, func(d Decision) bool { return d.Out.Heat2 })
		if got := at - start; got < cfg.Stage2After || got > cfg.Stage2After+20*time.Second {
			t.Fatalf("stage 2 after %v, want %v", got, cfg.Stage2After)
		}
		if got, want := r.last.Reason, "heating: 20.4 °C, target 21 °C, stage 2"; got != want {
			t.Fatalf("Reason=%q, want %q", got, want)
		}
		d := r.hold(10*time.Second, 20.8) // latched for the rest of the call
		if !d.Out.Heat2 {
			t.Fatalf("stage 2 dropped before the call ended")
		}
		d = r.hold(10*time.Second, 21)
		if d.Out.Heat || d.Out.Heat2 {
			t.Fatalf("heat or stage 2 on after the call: %+v", d.Out)
		}
	})
	t.Run("far off", func(t *testing.T) {
		r := newRig(t, cfg, heat(21), longAgo)
		start := r.until(time.Minute, 19.5, heating)
		if r.last.Out.Heat2 {
			t.Fatalf("stage 2 with stage 1, before stage 1 reads on")
		}
		at := r.until(time.Minute, 19.5, func(d Decision) bool { return d.Out.Heat2 })
		if got := at - start; got > 10*time.Second {
			t.Fatalf("stage 2 after %v, want at once", got)
		}
	})
	t.Run("cooling", func(t *testing.T) {
		cfg := heatPumpConfig()
		r := newRig(t, cfg, cool(24), longAgo)
		r.until(time.Minute, 25.6, func(d Decision) bool { return d.Out.Cool2 })
	})
}

func TestController_ChangeoverDelay(t *testing.T) {
	r := newRig(t, furnaceACConfig(), auto(20, 24), longAgo)
	r.until(time.Minute, 19, heating)
	r.hold(5*time.Minute, 19)
	stop := r.until(20*time.Second, 25, notHeating)
	d := r.hold(time.Minute, 25)
	if got, want := d.Reason, "changeover delay after heating: 9m10s left"; got != want {
		t.Fatalf("Reason=%q, want %q", got, want)
	}
	start := r.until(15*time.Minute, 25, cooling)
	if got := start - stop; got < 10*time.Minute || got > 10*time.Minute+30*time.Second {
		t.Fatalf("cooling %v after heating, want the 10m changeover delay", got)
	}
	// Out of auto, no changeover delay: only the compressor's min-off.
	r = newRig(t, furnaceACConfig(), heat(21), longAgo)
	r.until(time.Minute, 19, heating)
	_ = r.c.SetSettings(cool(22))
	stop = r.until(20*time.Second, 25, notHeating)
	start = r.until(time.Minute, 25, cooling)
	if got := start - stop; got > 20*time.Second {
		t.Fatalf("cooling %v after heating in cool mode, want at once", got)
	}
}

func TestController_MaxRun(t *testing.T) {
	r := newRig(t, furnaceACConfig(), cool(24), longAgo)
	r.until(time.Minute, 30, cooling)
	d := r.hold(110*time.Minute, 30)
	if hasAlert(d, "max run") {
		t.Fatalf("max run alert after 110m: %v", d.Alerts)
	}
	d = r.hold(15*time.Minute, 30)
	if !hasAlert(d, "max run exceeded: cooling on for more than 2h0m0s") || !d.Out.Cool {
		t.Fatalf("after 2h05m: Out=%+v Alerts=%v, want still cooling with a max run alert", d.Out, d.Alerts)
	}
	r.until(20*time.Second, 23.9, notCooling)
	if d := r.hold(10*time.Second, 23.9); hasAlert(d, "max run") {
		t.Fatalf("max run alert stays after the run: %v", d.Alerts)
	}
}

func TestController_Circulate(t *testing.T) {
	r := newRig(t, furnaceConfig(), Settings{Mode: ModeOff, Fan: FanCirculate}, longAgo)
	var perHour [3]time.Duration
	for r.now < 3*time.Hour-10*time.Second {
		d := r.hold(10*time.Second, 20)
		if d.Out.Fan {
			perHour[r.now/time.Hour] += 10 * time.Second
			if d.Action != ActionFan || d.Reason[:12] != "circulating:" {
				t.Fatalf("Action=%s Reason=%q", d.Action, d.Reason)
			}
		}
	}
	for h, got := range perHour {
		if got < 10*time.Minute-10*time.Second || got > 10*time.Minute+10*time.Second {
			t.Fatalf("hour %d: fan ran %v, want 10m", h, got)
		}
	}
	// Heating's fan time counts: an hour with a long heat run needs none.
	r = newRig(t, furnaceConfig(), Settings{Mode: ModeHeat, Fan: FanCirculate, Target: 21}, longAgo)
	r.until(time.Minute, 20, heating)
	r.hold(20*time.Minute, 20)
	r.until(time.Minute, 21, notHeating)
	r.hold(2*time.Minute, 21)
	for r.now < time.Hour-10*time.Second {
		if d := r.hold(10*time.Second, 20.8); d.Out.Fan {
			t.Fatalf("at %v: fan circulates though heating ran it 20m this hour", r.now)
		}
	}
}

func TestController_FanModes(t *testing.T) {
	r := newRig(t, heatPumpConfig(), Settings{Mode: ModeFanOnly, Fan: FanAuto}, longAgo)
	d := r.hold(time.Minute, 30)
	if want := (Outputs{Fan: true}); d.Out != want || d.Action != ActionFan || d.Reason != "fan only" {
		t.Fatalf("fan only: %+v", d)
	}
	_ = r.c.SetSettings(Settings{Mode: ModeOff, Fan: FanOn})
	d = r.hold(10*time.Second, 30)
	if want := (Outputs{Fan: true}); d.Out != want || d.Reason != "fan on" {
		t.Fatalf("fan on: %+v", d)
	}
	_ = r.c.SetSettings(Settings{Mode: ModeOff, Fan: FanAuto})
	d = r.hold(10*time.Second, 30)
	if want := (Outputs{}); d.Out != want || d.Action != ActionOff || d.Reason != "mode off" {
		t.Fatalf("off: %+v", d)
	}
}

func TestController_Interlock(t *testing.T) {
	c, err := New(heatPumpConfig(), cool(24), longAgo, 0, epoch)
	if err != nil {
		t.Fatal(err)
	}
	rd := []Reading{{"s", 28, 10 * time.Second}}
	d := c.Step(10*time.Second, epoch, rd, Outputs{Heat: true, Cool: true, Fan: true}, Outputs{})
	if d.Out.Heat || d.Out.Cool || d.Out.Heat2 || d.Out.Cool2 || !hasAlert(d, "interlock tripped") {
		t.Fatalf("both relays read on: %+v", d)
	}
	if got, want := d.Reason, txtInterlock; got != want {
		t.Fatalf("Reason=%q, want %q", got, want)
	}
}

func TestController_SensorLost(t *testing.T) {
	r := newRig(t, furnaceConfig(), heat(21), longAgo)
	r.until(time.Minute, 19, heating)
	last := r.now
	for r.now < last+5*time.Minute-10*time.Second { // the reading ages; the daemon passes it still
		r.now += 10 * time.Second
		if d := r.step(Reading{"s", 19, last}); !d.Out.Heat {
			t.Fatalf("at %v: heating stopped with a reading %v old", r.now, r.now-last)
		}
	}
	r.now += 10 * time.Second
	d := r.step(Reading{"s", 19, last})
	if d.Out.Heat || !hasAlert(d, txtNoSensor) || !hasAlert(d, "sensor s: stale") || !math.IsNaN(d.Current) {
		t.Fatalf("stale: %+v, want heat off and alerts", d)
	}
	if got, want := d.Reason, "sensor stale: all heating and cooling off"; got != want {
		t.Fatalf("Reason=%q, want %q", got, want)
	}
	if d := r.hold(10*time.Second, 19); len(d.Alerts) != 0 || d.Reason != "furnace min-off: 1m0s left" {
		t.Fatalf("fresh again: %+v, want no alerts and a wait for min-off", d)
	}
	r.until(time.Minute, 19, heating)
	// Never a reading at all.
	c, _ := New(furnaceConfig(), heat(21), longAgo, 0, epoch)
	d = c.Step(time.Second, epoch, nil, Outputs{}, Outputs{})
	if d.Out.Heat || d.Reason != "no sensor reading: all heating and cooling off" || !hasAlert(d, txtNoSensor) {
		t.Fatalf("no reading: %+v", d)
	}
}

// TestController_StartNeedsFreshReading: the compressor does not start on
// a reading that would go stale before its minimum on time is up.
func TestController_StartNeedsFreshReading(t *testing.T) {
	r := newRig(t, heatPumpConfig(), heat(21), longAgo)
	r.hold(time.Minute, 21)
	at := r.now + 10*time.Second
	r.now = at + 2*time.Minute + time.Second // 2m59s to stale, 3m min-on
	d := r.step(Reading{"s", 19, at})
	if d.Out.Heat || d.Reason != "waiting for a fresh reading to start the compressor for its minimum on time" {
		t.Fatalf("old reading: %+v", d)
	}
	r.until(20*time.Second, 19, heating)
}

func TestController_Freeze(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		s    Settings
	}{
		{"off", furnaceConfig(), Settings{Mode: ModeOff, Fan: FanAuto}},
		{"fan only", furnaceConfig(), Settings{Mode: ModeFanOnly, Fan: FanAuto}},
		{"cool, heat pump", heatPumpConfig(), cool(24)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.cfg, tc.s, longAgo)
			if d := r.hold(time.Minute, 5); d.Out.Heat {
				t.Fatalf("heating at 5 °C")
			}
			r.until(time.Minute, 4.9, heating)
			d := r.hold(10*time.Second, 4.9)
			if !hasAlert(d, txtFreeze) || d.Reason != "freeze protection: 4.9 °C, below 5 °C" || d.Action != ActionHeating {
				t.Fatalf("freeze: %+v", d)
			}
			r.hold(5*time.Minute, 5.4)
			if !r.last.Out.Heat {
				t.Fatalf("freeze protection ended below 5.5 °C")
			}
			r.until(time.Minute, 5.5, notHeating)
			// Without a fresh sensor, no freeze protection.
			r.hold(10*time.Minute, 5.5)
			r.until(time.Minute, 4, heating)
			last := r.now
			r.now += 5 * time.Minute
			if d := r.step(Reading{"s", 4, last}); d.Out.Heat {
				t.Fatalf("freeze protection on a stale reading")
			}
		})
	}
	r := newRig(t, func() Config { c := DefaultConfig(); c.HasHeat, c.HasCool = false, true; return c }(), cool(24), longAgo)
	if d := r.hold(time.Minute, 2); d.Out.Heat || hasAlert(d, txtFreeze) {
		t.Fatalf("freeze protection without a heat relay: %+v", d)
	}
}

func TestController_OverTemp(t *testing.T) {
	cfg := furnaceConfig()
	r := newRig(t, cfg, heat(30), longAgo)
	r.until(time.Minute, 29.4, heating)
	d := r.hold(10*time.Second, 32.5)
	if d.Out.Heat || !hasAlert(d, "over-temperature cut-off: heating off above 32 °C") {
		t.Fatalf("over-temperature: %+v", d)
	}
	// The hottest fresh sensor counts, not the mean.
	r.hold(time.Minute, 25)
	r.now += 10 * time.Second
	d = r.step(Reading{"a", 20, r.now}, Reading{"b", 33, r.now})
	if d.Out.Heat || d.Reason != "over-temperature cut-off: 33 °C, above 32 °C" {
		t.Fatalf("one hot sensor: %+v", d)
	}
	// A heat pump is cut off within its minimum on time.
	r = newRig(t, heatPumpConfig(), heat(30), longAgo)
	r.until(time.Minute, 29, heating)
	if d := r.hold(10*time.Second, 33); d.Out.Heat {
		t.Fatalf("heat pump still heating above OverTemp")
	}
	if r.k.excused != 1 {
		t.Fatalf("checker excused %d cut-offs, want 1", r.k.excused)
	}
}

func TestController_Readings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		r     Reading // after a good 20 °C at 90s; now is 100s
		alert string  // "" if accepted
	}{
		{"good", Reading{"s", 21, 100 * time.Second}, ""},
		{"NaN", Reading{"s", math.NaN(), 100 * time.Second}, "sensor s: implausible reading dropped"},
		{"+Inf", Reading{"s", math.Inf(1), 100 * time.Second}, "sensor s: implausible reading dropped"},
		{"-Inf", Reading{"s", math.Inf(-1), 100 * time.Second}, "sensor s: implausible reading dropped"},
		{"too cold", Reading{"s", -40.1, 100 * time.Second}, "sensor s: implausible reading dropped"},
		{"too hot", Reading{"s", 85.1, 100 * time.Second}, "sensor s: implausible reading dropped"},
		{"spike", Reading{"s", -40, 100 * time.Second}, "sensor s: spike dropped"},
		{"future", Reading{"s", 21, 101 * time.Second}, "sensor s: reading from the future dropped"},
		{"older", Reading{"s", 25, 80 * time.Second}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := New(furnaceConfig(), heat(21), longAgo, 0, epoch)
			c.Step(90*time.Second, epoch, []Reading{{"s", 20, 90 * time.Second}}, Outputs{}, Outputs{})
			d := c.Step(100*time.Second, epoch, []Reading{tc.r}, Outputs{}, Outputs{})
			if tc.alert == "" {
				if len(d.Alerts) != 0 {
					t.Fatalf("Alerts=%v, want none", d.Alerts)
				}
				return
			}
			if !hasAlert(d, tc.alert) || len(d.Alerts) != 1 {
				t.Fatalf("Alerts=%v, want %q", d.Alerts, tc.alert)
			}
			if got, want := d.Current, 20.0; got != want {
				t.Fatalf("Current=%v, want %v (the last good reading)", got, want)
			}
		})
	}
	// A jump that lasts is believed after a minute.
	c, _ := New(furnaceConfig(), heat(21), longAgo, 0, epoch)
	c.Step(0, epoch, []Reading{{"s", 20, 0}}, Outputs{}, Outputs{})
	c.Step(30*time.Second, epoch, []Reading{{"s", 5, 30 * time.Second}}, Outputs{}, Outputs{})
	if d := c.Step(60*time.Second, epoch, []Reading{{"s", 5, 60 * time.Second}}, Outputs{}, Outputs{}); d.Current != 5 {
		t.Fatalf("Current=%v after a minute at 5 °C, want 5", d.Current)
	}
	// Fresh sensors are averaged.
	d := c.Step(70*time.Second, epoch, []Reading{{"a", 19, 70 * time.Second}, {"b", 21, 65 * time.Second}, {"s", 5, 70 * time.Second}}, Outputs{}, Outputs{})
	if d.Current != 15 {
		t.Fatalf("Current=%v, want the mean 15", d.Current)
	}
}

func TestController_ReversingValve(t *testing.T) {
	for _, inHeat := range []bool{false, true} {
		cfg := heatPumpConfig()
		cfg.ReversingInHeat = inHeat
		r := newRig(t, cfg, cool(24), longAgo)
		d := r.hold(10*time.Second, 26)
		switch {
		case !inHeat && (d.Out.Cool || !d.Out.Reversing || d.Reason != "reversing valve moving before the compressor starts"):
			t.Fatalf("O valve: first step %+v, want the valve to move first", d)
		case inHeat && (!d.Out.Cool || d.Out.Reversing):
			t.Fatalf("B valve: first step %+v, want cooling at once, the valve at rest", d)
		}
		r.until(20*time.Second, 26, cooling)
		if r.last.Out.Reversing == inHeat {
			t.Fatalf("inHeat=%v: cooling with the valve in heat", inHeat)
		}
		// Switching to heat: the valve holds until the compressor is off.
		_ = r.c.SetSettings(heat(27))
		r.until(4*time.Minute, 26, func(d Decision) bool { return d.Out.Reversing == inHeat })
		r.until(6*time.Minute, 26, heating)
	}
}

func TestController_AllocsPerStep(t *testing.T) {
	c, _ := New(heatPumpConfig(), heat(21), longAgo, 0, epoch)
	rd := []Reading{{"a", 21, 0}, {"b", 21.1, 0}, {"c", 20.9, 0}}
	now := time.Duration(0)
	step := func() {
		now += 10 * time.Second
		for i := range rd {
			rd[i].At = now
		}
		c.Step(now, epoch.Add(now), rd, Outputs{}, Outputs{})
	}
	step()
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Fatalf("AllocsPerRun=%v, want 0", n)
	}
}
