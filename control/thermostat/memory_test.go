package thermostat

import (
	"testing"
	"time"
)

// stoppedCompressor runs the compressor and stops it; it returns the
// Memory and the wall time the stop was seen.
func stoppedCompressor(t *testing.T) (Memory, time.Time) {
	r := newRig(t, heatPumpConfig(), cool(24), longAgo)
	r.until(time.Minute, 26, cooling)
	r.hold(5*time.Minute, 26)
	r.until(20*time.Second, 23.5, notCooling)
	r.hold(10*time.Second, 23.5) // read back off
	mem := r.c.Memory()
	if got, want := mem.CompOff, epoch.Add(r.now); !got.Equal(want) {
		t.Fatalf("Memory().CompOff=%v, want %v", got, want)
	}
	if !mem.CompOn.Before(mem.CompOff) {
		t.Fatalf("Memory()=%+v: CompOn not before CompOff", mem)
	}
	return mem, mem.CompOff
}

// restartWait builds a controller from mem at wall time wall, on a fresh
// monotonic clock, and returns how long the compressor waits to start.
func restartWait(t *testing.T, mem Memory, wall time.Time) (time.Duration, string) {
	t.Helper()
	cfg := heatPumpConfig()
	c, err := New(cfg, cool(24), mem, 0, wall)
	if err != nil {
		t.Fatal(err)
	}
	var p plant
	var first string
	for now := time.Duration(0); now < time.Hour; now += 10 * time.Second {
		actual, down := p.read()
		w := wall.Add(now)
		if wall.IsZero() {
			w = time.Time{}
		}
		d := c.Step(now, w, []Reading{{"s", 26, now}}, actual, down)
		if now == 0 {
			first = d.Reason
		}
		p.write(d.Out)
		if d.Out.Cool {
			return now, first
		}
	}
	t.Fatalf("compressor never started")
	return 0, ""
}

func TestController_Restart(t *testing.T) {
	mem, off := stoppedCompressor(t)
	t.Run("60s after the stop", func(t *testing.T) {
		wait, first := restartWait(t, mem, off.Add(time.Minute))
		if got, want := first, "compressor min-off: 4m0s left"; got != want {
			t.Fatalf("Reason=%q, want %q", got, want)
		}
		if wait != 4*time.Minute {
			t.Fatalf("started %v after the restart, want 4m (5m min-off, 1m gone)", wait)
		}
	})
	t.Run("long after", func(t *testing.T) {
		if wait, _ := restartWait(t, mem, off.Add(time.Hour)); wait > 10*time.Second {
			t.Fatalf("waited %v, want at once (the valve moves first)", wait)
		}
	})
	for _, tc := range []struct {
		name string
		mem  Memory
		wall time.Time
	}{
		{"zero memory", Memory{}, off.Add(time.Hour)},
		{"clock behind the memory", mem, time.Date(1970, 1, 1, 0, 0, 30, 0, time.UTC)},
		{"wall clock unknown", mem, time.Time{}},
		// (The heat relay's history is old and known, so that only the
		// compressor's decides.)
		{"running at shutdown", Memory{CompOn: off.Add(-time.Minute), CompOff: off.Add(-time.Hour), HeatOn: off.Add(-3 * time.Hour), HeatOff: off.Add(-2 * time.Hour)}, off.Add(time.Hour)},
		{"running at shutdown, no stop known", Memory{CompOn: off.Add(-time.Minute), HeatOn: off.Add(-3 * time.Hour), HeatOff: off.Add(-2 * time.Hour)}, off.Add(time.Hour)},
		{"heat pump heating at shutdown", Memory{CompOn: off.Add(-2 * time.Hour), CompOff: off.Add(-time.Hour), HeatOn: off.Add(-time.Minute), HeatOff: off.Add(-2 * time.Hour)}, off.Add(time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if wait, _ := restartWait(t, tc.mem, tc.wall); wait != 5*time.Minute {
				t.Fatalf("started %v after the restart, want the full 5m", wait)
			}
		})
	}
}

func TestController_Memory(t *testing.T) {
	c, _ := New(furnaceConfig(), heat(21), Memory{}, 0, time.Time{})
	if got := c.Memory(); got != (Memory{}) {
		t.Fatalf("Memory() with no wall clock=%+v, want zero", got)
	}
	var p plant
	step := func(now time.Duration, wall time.Time, celsius float64) Decision {
		actual, down := p.read()
		d := c.Step(now, wall, []Reading{{"s", celsius, now}}, actual, down)
		p.write(d.Out)
		return d
	}
	step(10*time.Second, epoch.Add(10*time.Second), 21)
	m0 := c.Memory()
	if want := (Memory{HeatOff: epoch, CompOff: epoch}); m0 != want {
		t.Fatalf("Memory()=%+v, want %+v (no wall at New: the stops count from then)", m0, want)
	}
	// The wall clock drifts a little: Memory stays put.
	step(20*time.Second, epoch.Add(20*time.Second+300*time.Millisecond), 21)
	if got := c.Memory(); got != m0 {
		t.Fatalf("Memory() changed with no switch: %+v, was %+v", got, m0)
	}
	// A furnace run is remembered.
	for now := 30 * time.Second; now < 3*time.Minute; now += 10 * time.Second {
		step(now, epoch.Add(now), 20)
	}
	m1 := c.Memory()
	if m1.HeatOn.IsZero() || !m1.HeatOn.After(m1.HeatOff) {
		t.Fatalf("Memory() while heating=%+v, want HeatOn after HeatOff", m1)
	}
	// The clock is set (NTP): Memory is restated on the new clock.
	now := 3 * time.Minute
	step(now, epoch.Add(now+time.Hour), 20)
	if got, want := c.Memory().HeatOn, m1.HeatOn.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("after a 1h clock jump HeatOn=%v, want %v", got, want)
	}
}

func TestController_Hold(t *testing.T) {
	base := heat(21)
	away := Preset{Name: "away", Settings: heat(16)}
	c, _ := New(furnaceConfig(), base, longAgo, 0, epoch)
	step := func(wall time.Time) { c.Step(0, wall, nil, Outputs{}, Outputs{}) }

	until := epoch.Add(2 * time.Hour)
	if err := c.ApplyPreset(away, until); err != nil {
		t.Fatal(err)
	}
	if name, u := c.Hold(); name != "away" || !u.Equal(until) || c.Settings() != away.Settings {
		t.Fatalf("Hold()=%q %v, Settings()=%+v", name, u, c.Settings())
	}
	step(until.Add(-time.Second))
	if name, _ := c.Hold(); name != "away" {
		t.Fatalf("hold ended early")
	}
	step(time.Time{}) // wall clock unknown: the hold goes on
	if name, _ := c.Hold(); name != "away" {
		t.Fatalf("hold ended with no wall clock")
	}
	// A second preset replaces the first but keeps what to restore.
	sleep := Preset{Name: "sleep", Settings: heat(18)}
	_ = c.ApplyPreset(sleep, until)
	step(until)
	if name, _ := c.Hold(); name != "" || c.Settings() != base {
		t.Fatalf("after the hold: Hold()=%q Settings()=%+v, want none and %+v", name, c.Settings(), base)
	}

	// Permanent, until ended.
	_ = c.ApplyPreset(away, time.Time{})
	step(epoch.Add(1000 * time.Hour))
	if name, u := c.Hold(); name != "away" || !u.IsZero() {
		t.Fatalf("permanent hold: Hold()=%q %v", name, u)
	}
	c.EndHold()
	if name, _ := c.Hold(); name != "" || c.Settings() != base {
		t.Fatalf("EndHold: Hold()=%q Settings()=%+v", name, c.Settings())
	}

	// A command during a hold ends it.
	_ = c.ApplyPreset(away, until)
	_ = c.SetSettings(heat(19))
	if name, _ := c.Hold(); name != "" || c.Settings() != heat(19) {
		t.Fatalf("SetSettings during a hold: Hold()=%q Settings()=%+v", name, c.Settings())
	}

	// A preset the equipment cannot do is refused.
	if err := c.ApplyPreset(Preset{Name: "summer", Settings: cool(24)}, until); err == nil {
		t.Fatalf("ApplyPreset(cool) without a cool relay: nil error")
	}
	if name, _ := c.Hold(); name != "" || c.Settings() != heat(19) {
		t.Fatalf("a refused preset changed something: %q %+v", name, c.Settings())
	}
}

func TestController_SetConfig(t *testing.T) {
	c, _ := New(heatPumpConfig(), cool(24), longAgo, 0, epoch)
	bad := heatPumpConfig()
	bad.CompMinOff = -1
	if err := c.SetConfig(bad); err == nil {
		t.Fatalf("SetConfig(invalid): nil error")
	}
	noCool := heatPumpConfig()
	noCool.HasCool, noCool.HasCool2, noCool.HasReversing = false, false, false
	if err := c.SetConfig(noCool); err == nil {
		t.Fatalf("SetConfig without the cool relay while in cool mode: nil error")
	}
	_ = c.ApplyPreset(Preset{"warm", heat(22)}, time.Time{})
	if err := c.SetConfig(noCool); err == nil {
		t.Fatalf("SetConfig that the settings to restore do not meet: nil error")
	}
	c.EndHold()

	// A relay that is on cannot be removed.
	var p plant
	for now := time.Duration(0); now < time.Minute; now += 10 * time.Second {
		actual, down := p.read()
		p.write(c.Step(now, epoch.Add(now), []Reading{{"s", 26, now}}, actual, down).Out)
	}
	_ = c.SetSettings(Settings{Mode: ModeOff, Fan: FanAuto})
	if err := c.SetConfig(noCool); err == nil {
		t.Fatalf("SetConfig removing the running cool relay: nil error")
	}
	ok := heatPumpConfig()
	ok.CoolDiff = 1
	if err := c.SetConfig(ok); err != nil || c.Config() != ok {
		t.Fatalf("SetConfig(valid)=%v", err)
	}
}
