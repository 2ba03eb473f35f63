package thermostat

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// epoch is the wall time at monotonic zero in tests.
var epoch = time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC)

// longAgo is a Memory whose every switch was an hour before epoch, so that
// no minimum off time is pending at the start.
var longAgo = Memory{
	CompOn: epoch.Add(-2 * time.Hour), CompOff: epoch.Add(-time.Hour),
	HeatOn: epoch.Add(-2 * time.Hour), HeatOff: epoch.Add(-time.Hour),
}

// plant is the relays: what they physically are, and which cannot be
// written or read. An unavailable relay reads back as what was last asked
// of it (a daemon that cannot tell), and keeps its state unless
// writeThrough (only the read-back fails).
type plant struct {
	phys, asked, down Outputs
	writeThrough      bool
}

func (p *plant) read() (actual, unavailable Outputs) {
	actual = p.phys
	pick := func(a *bool, asked, down bool) {
		if down {
			*a = asked
		}
	}
	pick(&actual.Heat, p.asked.Heat, p.down.Heat)
	pick(&actual.Heat2, p.asked.Heat2, p.down.Heat2)
	pick(&actual.Cool, p.asked.Cool, p.down.Cool)
	pick(&actual.Cool2, p.asked.Cool2, p.down.Cool2)
	pick(&actual.Fan, p.asked.Fan, p.down.Fan)
	pick(&actual.Reversing, p.asked.Reversing, p.down.Reversing)
	return actual, p.down
}

func (p *plant) write(out Outputs) {
	p.asked = out
	set := func(phys *bool, want, down bool) {
		if !down || p.writeThrough {
			*phys = want
		}
	}
	set(&p.phys.Heat, out.Heat, p.down.Heat)
	set(&p.phys.Heat2, out.Heat2, p.down.Heat2)
	set(&p.phys.Cool, out.Cool, p.down.Cool)
	set(&p.phys.Cool2, out.Cool2, p.down.Cool2)
	set(&p.phys.Fan, out.Fan, p.down.Fan)
	set(&p.phys.Reversing, out.Reversing, p.down.Reversing)
}

// checker watches the physical relays and fails the test on any broken
// minimum time, heat with cool, a direct heat-cool swap, a valve moving
// under a running compressor, or a relay that does not exist switching.
type checker struct {
	tb       testing.TB
	cfg      Config
	phys     Outputs
	comp     machine
	furnace  machine
	excused  int // minimum on times cut short by a safety cut-off
	heatRuns []time.Duration
	dump     func() // if set, shows recent steps on a failure
}

func (k *checker) fail(format string, args ...any) {
	k.tb.Helper()
	if k.dump != nil {
		k.dump()
	}
	k.tb.Fatalf(format, args...)
}

// machine is the switch history of the compressor or the furnace.
type machine struct {
	name          string
	on            bool
	since         time.Duration
	starts        int
	minOn, minOff time.Duration
	runMinOn      time.Duration // the lowest min-on in force since this run began
	runMinOff     time.Duration // the lowest min-off in force since the last stop
}

// reconfigure takes a reloaded config's minimum times. A run (or a pause)
// in progress is held to the lowest minimum in force during it: a switch
// ordered under the old config may reach a failing relay only after the
// reload.
func (k *checker) reconfigure(cfg Config) {
	k.cfg = cfg
	for _, m := range []struct {
		m             *machine
		minOn, minOff time.Duration
	}{{&k.comp, cfg.CompMinOn, cfg.CompMinOff}, {&k.furnace, cfg.HeatMinOn, cfg.HeatMinOff}} {
		m.m.minOn, m.m.minOff = m.minOn, m.minOff
		m.m.runMinOn = min(m.m.runMinOn, m.minOn)
		m.m.runMinOff = min(m.m.runMinOff, m.minOff)
	}
}

// newChecker starts with everything off since start: a controller built
// with a zero Memory must wait the full minimum off time from there.
func newChecker(tb testing.TB, cfg Config, start time.Duration) *checker {
	return &checker{
		tb: tb, cfg: cfg,
		comp:    machine{name: "compressor", since: start, minOn: cfg.CompMinOn, minOff: cfg.CompMinOff, runMinOff: cfg.CompMinOff},
		furnace: machine{name: "furnace", since: start, minOn: cfg.HeatMinOn, minOff: cfg.HeatMinOff, runMinOff: cfg.HeatMinOff},
	}
}

// see checks the physical relays after a write at now. safety says the
// decision cut something off for safety (over-temperature, lost sensor,
// interlock), which may end a run before its minimum on time.
func (k *checker) see(now time.Duration, phys Outputs, safety bool) {
	k.tb.Helper()
	prev := k.phys
	k.phys = phys
	if phys.Heat && phys.Cool {
		k.fail("at %v: heat and cool both on", now)
	}
	if prev.Heat && !phys.Heat && phys.Cool || prev.Cool && !phys.Cool && phys.Heat {
		k.fail("at %v: direct swap between heat and cool", now)
	}
	for _, r := range []struct {
		name     string
		on, have bool
	}{
		{"heat", phys.Heat, k.cfg.HasHeat}, {"heat2", phys.Heat2, k.cfg.HasHeat2}, {"cool", phys.Cool, k.cfg.HasCool},
		{"cool2", phys.Cool2, k.cfg.HasCool2}, {"fan", phys.Fan, k.cfg.HasFan}, {"reversing", phys.Reversing, k.cfg.HasReversing},
	} {
		if r.on && !r.have {
			k.fail("at %v: relay %s is on but does not exist", now, r.name)
		}
	}
	compWas := prev.Cool || k.cfg.HeatPump && prev.Heat
	compIs := phys.Cool || k.cfg.HeatPump && phys.Heat
	if compWas && compIs && prev.Reversing != phys.Reversing {
		k.fail("at %v: reversing valve moved while the compressor ran", now)
	}
	k.comp.see(k, now, compIs, safety)
	if !k.cfg.HeatPump {
		k.furnace.see(k, now, phys.Heat, safety)
	}
	if !prev.Heat && phys.Heat {
		k.heatRuns = append(k.heatRuns, now)
	}
}

func (m *machine) see(k *checker, now time.Duration, on, safety bool) {
	k.tb.Helper()
	if on == m.on {
		return
	}
	d := now - m.since
	switch {
	case on && d < m.runMinOff:
		k.fail("at %v: %s started after %v off, min-off %v", now, m.name, d, m.runMinOff)
	case !on && d < m.runMinOn && !safety:
		k.fail("at %v: %s stopped after %v on, min-on %v", now, m.name, d, m.runMinOn)
	case !on && d < m.runMinOn:
		k.excused++
	}
	if on {
		m.starts++
		m.runMinOn = m.minOn
	} else {
		m.runMinOff = m.minOff
	}
	m.on, m.since = on, now
}

// rig runs a controller against a plant, checking every write.
type rig struct {
	tb   testing.TB
	c    *Controller
	p    plant
	k    *checker
	now  time.Duration
	last Decision
}

func newRig(tb testing.TB, cfg Config, s Settings, mem Memory) *rig {
	tb.Helper()
	c, err := New(cfg, s, mem, 0, epoch)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	k := newChecker(tb, cfg, 0)
	if mem != (Memory{}) {
		k.comp.since, k.furnace.since = -time.Hour, -time.Hour
	}
	return &rig{tb: tb, c: c, k: k}
}

// step runs one control step at the rig's time with these readings.
func (r *rig) step(readings ...Reading) Decision {
	r.tb.Helper()
	actual, down := r.p.read()
	d := r.c.Step(r.now, epoch.Add(r.now), readings, actual, down)
	if d.Out.Heat && d.Out.Cool {
		r.tb.Fatalf("at %v: decision has heat and cool", r.now)
	}
	r.p.write(d.Out)
	r.k.see(r.now, r.p.phys, safetyCut(d))
	r.last = d
	return d
}

// hold steps every 10 s for d with one sensor reading c, fresh each step.
func (r *rig) hold(d time.Duration, c float64) Decision {
	r.tb.Helper()
	for end := r.now + d; r.now < end; {
		r.now += 10 * time.Second
		r.step(Reading{Sensor: "s", Celsius: c, At: r.now})
	}
	return r.last
}

func safetyCut(d Decision) bool {
	return slices.ContainsFunc(d.Alerts, func(a string) bool {
		return a == txtNoSensor || a == txtInterlock || strings.HasPrefix(a, "over-temperature")
	})
}

func hasAlert(d Decision, prefix string) bool {
	return slices.ContainsFunc(d.Alerts, func(a string) bool { return strings.HasPrefix(a, prefix) })
}

// configs used across tests.
func furnaceConfig() Config {
	c := DefaultConfig()
	c.HasFan = true
	return c
}

func heatPumpConfig() Config {
	c := DefaultConfig()
	c.HasHeat, c.HasCool, c.HasFan, c.HasReversing, c.HeatPump = true, true, true, true, true
	c.HasHeat2, c.HasCool2 = true, true
	return c
}

func furnaceACConfig() Config {
	c := DefaultConfig()
	c.HasHeat, c.HasCool, c.HasFan = true, true, true
	return c
}

func heat(t float64) Settings { return Settings{Mode: ModeHeat, Fan: FanAuto, Target: t} }
func cool(t float64) Settings { return Settings{Mode: ModeCool, Fan: FanAuto, Target: t} }
func auto(lo, hi float64) Settings {
	return Settings{Mode: ModeAuto, Fan: FanAuto, Target: lo, TargetLow: lo, TargetHigh: hi}
}

// until steps every 10 s with one sensor reading c until cond holds, and
// returns the time it did; it fails after limit.
func (r *rig) until(limit time.Duration, c float64, cond func(Decision) bool) time.Duration {
	r.tb.Helper()
	for end := r.now + limit; r.now < end; {
		r.now += 10 * time.Second
		if cond(r.step(Reading{Sensor: "s", Celsius: c, At: r.now})) {
			return r.now
		}
	}
	r.tb.Fatalf("at %v: condition not met within %v; last decision %+v", r.now, limit, r.last)
	return 0
}

func heating(d Decision) bool    { return d.Out.Heat }
func cooling(d Decision) bool    { return d.Out.Cool }
func notHeating(d Decision) bool { return !d.Out.Heat }
func notCooling(d Decision) bool { return !d.Out.Cool }
