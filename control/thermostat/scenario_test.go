package thermostat

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/sim"
)

// house runs a controller against sim's thermal model of a room, in 10 s
// steps of simulated time, checking every relay switch.
type house struct {
	r       *rig
	room    *sim.Room
	outside func(time.Duration) float64
	plan    []change
	// readings, if set, replaces the two sensors' readings (fault injection).
	readings func(now time.Duration, good []Reading) []Reading
	// before, if set, runs before each step (relay faults).
	before func(now time.Duration)

	target        float64
	changedAt     time.Duration
	reached       bool
	settled       time.Duration // time spent settled
	maxDev        float64       // settled
	settledStarts int
	recoveries    []time.Duration
}

// change is a setpoint schedule entry.
type change struct {
	at time.Duration
	s  Settings
}

const dt = 10 * time.Second

func newHouse(tb testing.TB, cfg Config, start float64, outside func(time.Duration) float64, plan []change) *house {
	r := newRig(tb, cfg, plan[0].s, Memory{})
	return &house{r: r, room: sim.NewRoom(sim.DefaultRoomParams(), start, 7), outside: outside, plan: plan}
}

// target is what the room is held at in the scenario: heat or cool.
func target(s Settings) float64 { return s.Target }

func (h *house) run(d time.Duration) {
	r := h.r
	for end := r.now + d; r.now < end; r.now += dt {
		for _, c := range h.plan {
			if c.at == r.now {
				if err := r.c.SetSettings(c.s); err != nil {
					r.tb.Fatal(err)
				}
				h.target, h.changedAt, h.reached = target(c.s), r.now, false
			}
		}
		if h.before != nil {
			h.before(r.now)
		}
		rd := []Reading{
			{"living", h.room.Temperature().Celsius(), r.now},
			{"hall", h.room.Temperature().Celsius(), r.now},
		}
		if h.readings != nil {
			rd = h.readings(r.now, rd)
		}
		was := r.p.phys
		d := r.step(rd...)
		if math.IsNaN(d.Current) && (d.Out.Heat && !hasAlert(d, txtFreeze) || d.Out.Cool) {
			r.tb.Fatalf("at %v: %+v with no fresh sensor", r.now, d.Out)
		}
		ph := r.p.phys
		h.room.SetInputs(sim.Inputs{Heat: ph.Heat, Heat2: ph.Heat2, Cool: ph.Cool, Cool2: ph.Cool2, Fan: ph.Fan, Outside: h.outside(r.now)})
		h.room.Step(dt)

		dev := h.room.Celsius() - h.target
		if !h.reached && math.Abs(dev) <= 0.5 {
			h.reached = true
			h.recoveries = append(h.recoveries, r.now-h.changedAt)
		}
		if h.reached && r.now >= h.changedAt+time.Hour {
			h.settled += dt
			h.maxDev = max(h.maxDev, math.Abs(dev))
			if !was.Heat && ph.Heat || !was.Cool && ph.Cool {
				h.settledStarts++
			}
		}
	}
}

func (h *house) report(tb testing.TB, name string) {
	tb.Helper()
	cycles := float64(h.settledStarts) / h.settled.Hours()
	tb.Logf("%s: settled %.1fh, max deviation %.3f °C, %.2f cycles/h (compressor %d starts, furnace %d), recoveries %v",
		name, h.settled.Hours(), h.maxDev, cycles, h.r.k.comp.starts, h.r.k.furnace.starts, h.recoveries)
	if h.maxDev > 0.6 {
		tb.Fatalf("%s: max deviation %.2f °C after settling, want within ±0.6", name, h.maxDev)
	}
	if cycles > 4 {
		tb.Fatalf("%s: %.2f cycles/h, want at most 4", name, cycles)
	}
	for _, rec := range h.recoveries {
		if rec > 9*time.Hour {
			tb.Fatalf("%s: a setpoint took %v to reach", name, rec)
		}
	}
}

// winter: -5 °C at 03:00, 5 °C at 15:00; 21 °C 06:00-22:00, 17 °C at night.
func winterOutside(t time.Duration) float64 {
	return 5 * math.Sin(2*math.Pi*(t.Hours()-9)/24)
}

func winterPlan(s Settings) []change {
	at := func(c float64) Settings { s.Target = c; return s }
	return []change{{0, at(17)}, {6 * time.Hour, at(21)}, {22 * time.Hour, at(17)}}
}

func TestController_ScenarioWinterDay(t *testing.T) {
	twoStage := furnaceConfig()
	twoStage.HasHeat2 = true
	hp := heatPumpConfig()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"one-stage furnace", furnaceConfig()},
		{"two-stage furnace", twoStage},
		{"heat pump", hp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHouse(t, tc.cfg, 17, winterOutside, winterPlan(heat(17)))
			h.run(24 * time.Hour)
			h.report(t, tc.name)
		})
	}
}

// summer: 24 °C at 04:00, 36 °C at 16:00; 23.5 °C 07:00-23:00, 25.5 °C at night.
func summerOutside(t time.Duration) float64 {
	return 30 + 6*math.Sin(2*math.Pi*(t.Hours()-10)/24)
}

func TestController_ScenarioSummerDay(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"heat pump, two-stage compressor", heatPumpConfig()},
		{"air conditioner", furnaceACConfig()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := []change{{0, cool(25.5)}, {7 * time.Hour, cool(23.5)}, {23 * time.Hour, cool(25.5)}}
			h := newHouse(t, tc.cfg, 26, summerOutside, plan)
			h.run(24 * time.Hour)
			h.report(t, tc.name)
		})
	}
}

// TestController_ScenarioRelayFlaps: the stage-1 relay goes unavailable for
// a step, every few minutes, all day. No short cycle may come of it, and
// it must not cycle the equipment more than a day without faults does.
func TestController_ScenarioRelayFlaps(t *testing.T) {
	for _, tc := range []struct {
		name         string
		cfg          Config
		writeThrough bool
	}{
		{"heat pump, writes fail", heatPumpConfig(), false},
		{"heat pump, read-back fails", heatPumpConfig(), true},
		{"furnace, writes fail", furnaceConfig(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calm := newHouse(t, tc.cfg, 17, winterOutside, winterPlan(heat(17)))
			calm.run(24 * time.Hour)

			h := newHouse(t, tc.cfg, 17, winterOutside, winterPlan(heat(17)))
			h.r.p.writeThrough = tc.writeThrough
			rng := rand.New(rand.NewPCG(1, 2))
			next, outages := time.Duration(0), 0
			h.before = func(now time.Duration) {
				h.r.p.down.Heat = false
				if now >= next {
					h.r.p.down.Heat, outages = true, outages+1
					next = now + time.Duration(2+rng.IntN(4))*time.Minute
				}
			}
			h.run(24 * time.Hour)
			h.report(t, tc.name)
			calmStarts := calm.r.k.comp.starts + calm.r.k.furnace.starts
			starts := h.r.k.comp.starts + h.r.k.furnace.starts
			t.Logf("%d outages; %d starts, %d without faults", outages, starts, calmStarts)
			if starts > calmStarts+2 {
				t.Fatalf("%d starts with relay faults, %d without: faults cause cycling", starts, calmStarts)
			}
		})
	}
}

// TestController_ScenarioSensorFaults: a sensor that falls silent, then one
// that sends garbage: heating stops with an alert once nothing fresh is
// left, and comes back with good readings.
func TestController_ScenarioSensorFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  func(r Reading) (Reading, bool) // the faulty reading, or none
	}{
		{"silent (CRC errors)", func(r Reading) (Reading, bool) { return r, false }},
		{"NaN", func(r Reading) (Reading, bool) { r.Celsius = math.NaN(); return r, true }},
		{"stuck far off", func(r Reading) (Reading, bool) { r.Celsius = 95; return r, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHouse(t, heatPumpConfig(), 20, winterOutside, []change{{0, heat(21)}})
			const from, to = 2 * time.Hour, 2*time.Hour + 10*time.Minute
			var last [2]Reading
			h.readings = func(now time.Duration, good []Reading) []Reading {
				switch {
				case now == 90*time.Minute: // one -40 °C spike from the hall
					good[1].Celsius = -40
				case now >= from && now < to:
					var out []Reading
					for i := range good {
						if b, ok := tc.bad(good[i]); ok {
							out = append(out, b)
						} else if last[i].Sensor != "" {
							out = append(out, last[i]) // the daemon passes the last one it has
						}
					}
					return out
				}
				copy(last[:], good)
				return good
			}
			var spikeSeen, offSeen, backSeen bool
			for h.r.now < 3*time.Hour {
				h.run(dt)
				d, now := h.r.last, h.r.now-dt
				switch {
				case now == 90*time.Minute:
					spikeSeen = hasAlert(d, "sensor hall: spike dropped") && math.Abs(d.Current-h.room.Celsius()) < 0.5
				case now >= from+5*time.Minute && now < to:
					if d.Out.Heat || d.Out.Cool || !hasAlert(d, txtNoSensor) {
						t.Fatalf("at %v, sensors gone %v: %+v", now, now-from, d)
					}
					offSeen = true
				case now >= to+10*time.Minute:
					if len(d.Alerts) != 0 || math.IsNaN(d.Current) {
						t.Fatalf("at %v, good readings back: %+v", now, d)
					}
					backSeen = true
				}
			}
			if !spikeSeen || !offSeen || !backSeen {
				t.Fatalf("spike dropped %v, off while stale %v, heating again %v", spikeSeen, offSeen, backSeen)
			}
			if dev := math.Abs(h.room.Celsius() - 21); dev > 0.6 {
				t.Fatalf("an hour after the fault, %.2f °C off target", dev)
			}
		})
	}
}
