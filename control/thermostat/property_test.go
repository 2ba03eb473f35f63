package thermostat

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// layouts are the relay sets the property test draws from.
var layouts = []func(*Config){
	func(c *Config) { c.HasHeat = true },                                   // boiler
	func(c *Config) { c.HasHeat, c.HasHeat2, c.HasFan = true, true, true }, // two-stage furnace
	func(c *Config) { c.HasHeat, c.HasCool, c.HasCool2, c.HasFan = true, true, true, true },
	func(c *Config) { *c = heatPumpConfig() },
	func(c *Config) { // heat pump, B valve, no fan, no second stages
		c.HasHeat, c.HasCool, c.HeatPump, c.HasReversing, c.ReversingInHeat = true, true, true, true, true
	},
	func(c *Config) { c.HasHeat, c.HasCool, c.HasFan = false, true, true }, // air conditioner alone
}

func randomConfig(rng *rand.Rand, layout int) Config {
	for {
		c := DefaultConfig()
		c.HasHeat = false
		layouts[layout](&c)
		retime(rng, &c)
		if c.Validate() == nil {
			return c
		}
	}
}

// retime draws every timing and temperature of c, keeping its relays.
func retime(rng *rand.Rand, c *Config) {
	d := func(hi time.Duration) time.Duration {
		return time.Duration(rng.Int64N(int64(hi))).Truncate(time.Second)
	}
	u := func(lo, hi float64) float64 { return math.Round((lo+rng.Float64()*(hi-lo))*10) / 10 }
	c.CompMinOff, c.CompMinOn = d(10*time.Minute), d(5*time.Minute)
	c.HeatMinOff, c.HeatMinOn = d(5*time.Minute), d(3*time.Minute)
	c.FanOverrun, c.Stage2After, c.ChangeoverDelay = d(3*time.Minute), d(20*time.Minute), d(20*time.Minute)
	c.MaxRun, c.Circulate = 0, d(30*time.Minute)
	if rng.IntN(2) == 0 {
		c.MaxRun = 10*time.Minute + d(3*time.Hour)
	}
	c.StaleAfter = max(c.CompMinOn, c.HeatMinOn) + time.Minute + d(5*time.Minute)
	c.HeatDiff, c.CoolDiff, c.MinGap, c.Stage2Diff = u(0.2, 1.5), u(0.2, 1.5), u(0.5, 3), u(0.5, 3)
	c.Freeze = u(2, 6)
	c.MinSetpoint = c.Freeze + c.HeatDiff + u(0.1, 3)
	c.MaxSetpoint = min(40, c.MinSetpoint+c.MinGap+u(5, 15))
	c.OverTemp = c.MaxSetpoint + u(0.5, 5)
}

func randomSettings(rng *rand.Rand, c Config) Settings {
	modes := []Mode{ModeOff, ModeHeat, ModeCool, ModeAuto, ModeFanOnly, "bogus"}
	fans := []FanMode{FanAuto, FanOn, FanCirculate}
	t := func() float64 {
		return math.Round((c.MinSetpoint-1+rng.Float64()*(c.MaxSetpoint-c.MinSetpoint+2))*2) / 2
	}
	lo := t()
	return Settings{Mode: modes[rng.IntN(len(modes))], Fan: fans[rng.IntN(len(fans))], Target: t(), TargetLow: lo, TargetHigh: lo + c.MinGap + float64(rng.IntN(6))}
}

// TestController_Properties drives controllers with random commands,
// config reloads, restarts, sensor traces and relay faults, and checks the
// invariants at every step.
func TestController_Properties(t *testing.T) {
	iterations := 240
	if testing.Short() {
		iterations = 40
	}
	rng := rand.New(rand.NewPCG(20250115, 42))
	var stats struct{ steps, excused, restarts, reloads, safetyStops, staleStops, accepted, refused int }
	for it := range iterations {
		layout := it % len(layouts)
		cfg := randomConfig(rng, layout)
		s := randomSettings(rng, cfg)
		for cfg.CheckSettings(s) != nil {
			s = randomSettings(rng, cfg)
		}
		c, err := New(cfg, s, Memory{}, 0, epoch)
		if err != nil {
			t.Fatal(err)
		}
		k := newChecker(t, cfg, 0)
		var p plant
		var (
			T, base   time.Duration // simulated time; the controller's monotonic zero
			wallJump  time.Duration
			room      = 5 + rng.Float64()*30
			nSensors  = 1 + rng.IntN(3)
			last      = make([]Reading, nSensors)
			silent    = make([]time.Duration, nSensors) // a sensor says nothing until then
			outage    [6]int                            // steps each relay stays unavailable
			prevAl    []string
			prevAlCpy []string
			cutOrder  bool // a safety cut-off asked a running machine off
			trace     [12]traced
		)
		for step := 0; step < 3000; step++ {
			T += time.Duration(1+rng.IntN(30)) * time.Second
			if rng.IntN(400) == 0 {
				T += time.Duration(rng.IntN(600)) * time.Second // the daemon stalled
			}
			now := T - base

			// The world: commands, reloads, restarts.
			switch x := rng.IntN(1000); {
			case x < 10:
				ns := randomSettings(rng, c.Config())
				if err := c.SetSettings(ns); err == nil {
					stats.accepted++
				} else {
					stats.refused++
				}
			case x < 13:
				var until time.Time
				if rng.IntN(2) == 0 {
					until = epoch.Add(T + wallJump + time.Duration(rng.IntN(7200))*time.Second)
				}
				_ = c.ApplyPreset(Preset{Name: "p", Settings: randomSettings(rng, c.Config())}, until)
			case x < 14:
				c.EndHold()
			case x < 17:
				nc := c.Config()
				retime(rng, &nc)
				if c.SetConfig(nc) == nil {
					k.reconfigure(nc)
					stats.reloads++
				}
			case x < 19: // restart: the relays go off with the daemon
				mem, set := c.Memory(), c.Settings()
				p = plant{}
				excused := k.excused
				k.see(T, p.phys, true)
				k.excused = excused // not the controller's doing
				base, now = T, 0
				wall := epoch.Add(T + wallJump)
				if rng.IntN(5) == 0 {
					wall = time.Time{} // not yet synchronised
				}
				if c, err = New(c.Config(), set, mem, now, wall); err != nil {
					t.Fatal(err)
				}
				stats.restarts++
			case x < 20:
				wallJump += time.Duration(rng.IntN(7200)-1800) * time.Second // NTP sets the clock
			}

			// Relay faults.
			downs := []*bool{&p.down.Heat, &p.down.Heat2, &p.down.Cool, &p.down.Cool2, &p.down.Fan, &p.down.Reversing}
			for i, dn := range downs {
				if outage[i] == 0 && rng.IntN(100) == 0 {
					outage[i] = 1 + rng.IntN(8)
				}
				*dn = outage[i] > 0
				if outage[i] > 0 {
					outage[i]--
				}
			}
			p.writeThrough = rng.IntN(2) == 0

			// The room and its sensors.
			ph := p.phys
			room += 0.02*b2f(ph.Heat) + 0.02*b2f(ph.Heat2) - 0.02*b2f(ph.Cool) - 0.02*b2f(ph.Cool2) + rng.NormFloat64()*0.05
			if rng.IntN(500) == 0 {
				room += rng.Float64()*16 - 8
			}
			room = min(40, max(-5, room))
			var readings []Reading
			for i := range nSensors {
				if rng.IntN(800) == 0 {
					silent[i] = T + time.Duration(rng.IntN(900))*time.Second
				}
				r := Reading{Sensor: string(rune('a' + i)), Celsius: room + rng.NormFloat64()*0.1, At: now}
				switch x := rng.IntN(200); {
				case T < silent[i] || x < 20: // no new reading: the daemon passes the last
					r = last[i]
				case x < 24:
					r.Celsius = math.NaN()
				case x < 26:
					r.Celsius = []float64{math.Inf(1), math.Inf(-1), -60, 120, -40, 85}[rng.IntN(6)]
				case x < 28:
					r.Celsius += 30 * (rng.Float64() - 0.5)
				case x < 29:
					r.At = now + time.Minute
				}
				if r.Sensor != "" && rng.IntN(50) != 0 {
					readings = append(readings, r)
				}
				if r.At <= now {
					last[i] = r
				}
			}
			rng.Shuffle(len(readings), func(i, j int) { readings[i], readings[j] = readings[j], readings[i] })

			wall := epoch.Add(T + wallJump)
			if rng.IntN(300) == 0 {
				wall = time.Time{}
			}
			actual, down := p.read()
			d := c.Step(now, wall, readings, actual, down)
			stats.steps++

			// Invariants of the decision.
			o, cf := d.Out, c.Config()
			switch {
			case o.Heat && o.Cool:
				t.Fatalf("iter %d step %d: heat and cool: %+v", it, step, d)
			case o.Heat2 && !o.Heat, o.Cool2 && !o.Cool:
				t.Fatalf("iter %d step %d: second stage alone: %+v", it, step, o)
			case o.Heat && !cf.HasHeat, o.Heat2 && !cf.HasHeat2, o.Cool && !cf.HasCool, o.Cool2 && !cf.HasCool2,
				o.Fan && !cf.HasFan, o.Reversing && !cf.HasReversing:
				t.Fatalf("iter %d step %d: output for a relay that does not exist: %+v, config %+v", it, step, o, cf)
			case math.IsNaN(d.Current) && (o.Heat || o.Cool):
				t.Fatalf("iter %d step %d: heating or cooling with no fresh sensor: %+v", it, step, d)
			case d.Reason == "":
				t.Fatalf("iter %d step %d: no reason: %+v", it, step, d)
			case o.Heat != (d.Action == ActionHeating), o.Cool != (d.Action == ActionCooling):
				t.Fatalf("iter %d step %d: action %s with outputs %+v", it, step, d.Action, o)
			case !slices.Equal(prevAl, prevAlCpy):
				t.Fatalf("iter %d step %d: a previous Decision's alerts changed: %v, were %v", it, step, prevAl, prevAlCpy)
			}
			prevAl, prevAlCpy = d.Alerts, slices.Clone(d.Alerts)

			// Invariants of the physical relays. A safety cut-off may end a
			// run early; nothing else may, and nothing may start one early.
			was := p.phys
			p.write(o)
			if safetyCut(d) && (was.Heat && !o.Heat || was.Cool && !o.Cool) {
				cutOrder = true
				stats.safetyStops++
				if math.IsNaN(d.Current) {
					stats.staleStops++
				}
			}
			trace[step%len(trace)] = traced{T, now, readings, actual, down, d}
			k.dump = func() {
				for i := step + 1; i <= step+len(trace); i++ {
					if r := trace[i%len(trace)]; r.T != 0 {
						t.Logf("T=%v now=%v readings=%v actual=%+v down=%+v -> %+v", r.T, r.now, r.readings, r.actual, r.down, r.d)
					}
				}
			}
			k.see(T, p.phys, cutOrder)
			if !p.phys.Heat && !p.phys.Cool {
				cutOrder = false
			}
		}
		stats.excused += k.excused
	}
	t.Logf("%d steps; %d runs cut short by safety cut-offs (of %d safety stops, %d for a lost sensor); %d restarts, %d reloads; settings accepted %d, refused %d",
		stats.steps, stats.excused, stats.safetyStops, stats.staleStops, stats.restarts, stats.reloads, stats.accepted, stats.refused)
}

// traced is one step of the property test, for a failure's report.
type traced struct {
	T, now       time.Duration
	readings     []Reading
	actual, down Outputs
	d            Decision
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
