package thermostat

import (
	"fmt"
	"slices"
	"time"
)

// Outputs are the states of the relays.
type Outputs struct {
	Heat, Heat2, Cool, Cool2, Fan, Reversing bool
}

// Decision is what Step decided.
type Decision struct {
	Out     Outputs  // what the relays must be; Heat and Cool are never both true
	Action  Action   // what the equipment does
	Reason  string   // why, for people: "compressor min-off: 2m40s left"
	Current float64  // the room temperature used: the mean of the fresh sensors, NaN if none
	Alerts  []string // stale or dropped sensor readings, max run exceeded, freeze protection, over-temperature, interlock
}

// Preset is a named set of settings.
type Preset struct {
	Name     string
	Settings Settings
}

type direction uint8

const (
	dirNone direction = iota
	dirHeat
	dirCool
)

// Controller decides a thermostat's relay outputs. It holds no goroutine
// and reads no clock: the daemon calls Step with the time. It is not safe
// for concurrent use.
type Controller struct {
	cfg Config
	set Settings

	held      bool // a preset is on hold; saved is what it replaced
	holdName  string
	holdUntil time.Time
	saved     Settings

	heat, cool         relay
	out                Outputs // the last outputs
	heatCall, coolCall bool    // the calls, with their hysteresis
	freeze             bool
	heat2, cool2       bool      // second stages, latched for the rest of a call
	lastDir            direction // the compressor's last direction: the valve's rest position in auto
	hvacOnAt           time.Duration
	hvacRan            bool
	circHour           int64         // the hour circRun counts in
	circRun            time.Duration // fan time in that hour

	prevNow   time.Duration
	wallBase  time.Time // wall time at monotonic zero
	wallKnown bool

	sensors []sensor
	txt     texts

	buf       []byte   // the reason being written
	reason    string   // the last reason, reused while it reads the same
	alertBuf  []string // the alerts being gathered
	published []string // the last alerts handed out: never written again
}

// New builds a controller at monotonic time now and wall time wall (zero if
// unknown). A switch time in mem that is in the future or unknown counts as
// just now, so after a restart, or with an unsynchronised clock, the
// minimum off times are enforced from the start rather than skipped. All
// outputs start off.
func New(cfg Config, s Settings, mem Memory, now time.Duration, wall time.Time) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("thermostat config: %w", err)
	}
	if err := cfg.CheckSettings(s); err != nil {
		return nil, fmt.Errorf("thermostat settings: %w", err)
	}
	c := &Controller{cfg: cfg, set: s, prevNow: now, circHour: hourOf(now)}
	c.noteWall(now, wall)
	restore(&c.cool, mem.CompOn, mem.CompOff, now, wall.Round(0), c.wallKnown)
	restore(&c.heat, mem.HeatOn, mem.HeatOff, now, wall.Round(0), c.wallKnown)
	c.txt = newTexts(cfg)
	return c, nil
}

// Settings returns the settings in force (a preset's while it holds).
func (c *Controller) Settings() Settings { return c.set }

// Config returns the config in force.
func (c *Controller) Config() Config { return c.cfg }

// SetSettings changes the settings and ends any hold. No minimum time is
// reset or skipped: they belong to the relays, not to the settings.
func (c *Controller) SetSettings(s Settings) error {
	if err := c.cfg.CheckSettings(s); err != nil {
		return err
	}
	c.set, c.held, c.holdName, c.holdUntil = s, false, "", time.Time{}
	return nil
}

// SetConfig reloads the config; every timer carries over. It refuses a
// config that the settings in force (or those a hold will restore) do not
// meet, and one that removes a relay that is on.
func (c *Controller) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("thermostat config: %w", err)
	}
	if err := cfg.CheckSettings(c.set); err != nil {
		return fmt.Errorf("settings in force under the new config: %w", err)
	}
	if c.held {
		if err := cfg.CheckSettings(c.saved); err != nil {
			return fmt.Errorf("settings to restore after the hold, under the new config: %w", err)
		}
	}
	if c.heat.on && !cfg.HasHeat {
		return &FieldError{Field: "HasHeat", Problem: "the heat relay is on: switch it off before removing it"}
	}
	if c.cool.on && !cfg.HasCool {
		return &FieldError{Field: "HasCool", Problem: "the cool relay is on: switch it off before removing it"}
	}
	c.cfg, c.txt = cfg, newTexts(cfg)
	return nil
}

// ApplyPreset puts a preset's settings in force until the wall time until
// (zero: a permanent hold). When the hold ends, the settings from before
// it come back; a preset applied during a hold replaces it and keeps those.
func (c *Controller) ApplyPreset(p Preset, until time.Time) error {
	if err := c.cfg.CheckSettings(p.Settings); err != nil {
		return fmt.Errorf("preset %q: %w", p.Name, err)
	}
	if !c.held {
		c.saved = c.set
	}
	c.set, c.held, c.holdName, c.holdUntil = p.Settings, true, p.Name, until.Round(0)
	return nil
}

// Hold returns the preset on hold ("" if none) and when the hold ends
// (zero: permanent).
func (c *Controller) Hold() (preset string, until time.Time) {
	if !c.held {
		return "", time.Time{}
	}
	return c.holdName, c.holdUntil
}

// EndHold ends a hold now and restores the settings from before it.
func (c *Controller) EndHold() {
	if c.held {
		c.set, c.held, c.holdName, c.holdUntil = c.saved, false, "", time.Time{}
	}
}

// Step decides the outputs at now. readings holds the latest reading of
// each sensor; actual is what the relays read back as (or were last
// written, where they cannot be read), and unavailable marks the relays
// that failed to be written or read. An unavailable relay is taken to be
// in its worst state for timing: a relay error never shortens a minimum
// time.
func (c *Controller) Step(now time.Duration, wall time.Time, readings []Reading, actual, unavailable Outputs) Decision {
	now = max(now, c.prevNow) // a clock that runs back only makes waits longer
	c.noteWall(now, wall)
	if c.held && !c.holdUntil.IsZero() && !wall.IsZero() && !wall.Before(c.holdUntil) {
		c.EndHold()
	}
	c.heat.observe(now, unavailable.Heat, actual.Heat)
	c.cool.observe(now, unavailable.Cool, actual.Cool)
	c.account(now)
	sn := c.sense(now, readings)
	c.alertBuf = c.alertBuf[:0]
	c.sensorAlerts(now)

	out, st := c.decide(now, sn, unavailable)
	c.heat.command(now, out.Heat)
	c.cool.command(now, out.Cool)
	c.out = out
	switch {
	case c.heat.on && c.cfg.HeatPump:
		c.lastDir = dirHeat
	case c.cool.on:
		c.lastDir = dirCool
	}
	c.prevNow = now

	d := Decision{Out: out, Current: sn.mean}
	switch {
	case out.Heat:
		d.Action = ActionHeating
	case out.Cool:
		d.Action = ActionCooling
	case out.Fan:
		d.Action = ActionFan
	case c.set.Mode == ModeOff && !c.freeze:
		d.Action = ActionOff
	default:
		d.Action = ActionIdle
	}
	d.Reason = c.writeReason(d.Action, sn, st)
	d.Alerts = c.publishAlerts()
	return d
}

// account keeps the times the fan overrun and circulation count from.
func (c *Controller) account(now time.Duration) {
	if c.heat.on || c.cool.on {
		c.hvacOnAt, c.hvacRan = now, true
	}
	from := c.prevNow
	if h := hourOf(now); h != c.circHour {
		c.circHour, c.circRun = h, 0
		from = max(from, time.Duration(h)*time.Hour)
	}
	if c.out.Fan {
		c.circRun += now - from
	}
}

func hourOf(d time.Duration) int64 {
	h := int64(d / time.Hour)
	if d < 0 && d%time.Hour != 0 {
		h--
	}
	return h
}

// band is a call with hysteresis: it starts when start holds and lasts
// while stay does.
func band(was, start, stay bool) bool { return start || was && stay }

// story is what decide found, for the reason.
type story struct {
	fresh, over, interlock bool
	heatHold, coolHold     wait // a relay kept on for its minimum on time
	wait                   wait // a wanted start held back
	fan                    wait // why the fan runs
	stage2                 bool
}

// decide is the control logic; doc.go states its rules.
func (c *Controller) decide(now time.Duration, sn sensing, un Outputs) (Outputs, story) {
	cfg, set := &c.cfg, &c.set
	st := story{fresh: sn.fresh > 0}
	cur := sn.mean
	heatT, coolT := c.targets()
	heating := set.Mode == ModeHeat || set.Mode == ModeAuto
	cooling := set.Mode == ModeCool || set.Mode == ModeAuto
	c.heatCall = st.fresh && cfg.HasHeat && heating && band(c.heatCall, cur <= heatT-cfg.HeatDiff, cur < heatT)
	c.coolCall = st.fresh && cfg.HasCool && cooling && band(c.coolCall, cur >= coolT+cfg.CoolDiff, cur > coolT)
	c.freeze = st.fresh && cfg.HasHeat && band(c.freeze, cur < cfg.Freeze, cur < cfg.Freeze+cfg.HeatDiff)
	st.over = st.fresh && sn.hottest > cfg.OverTemp
	if st.over {
		c.heatCall, c.freeze = false, false
	}
	wantHeat, wantCool := c.heatCall || c.freeze, c.coolCall
	cutHeat, cutCool := !st.fresh || st.over, !st.fresh
	hu, cu := c.heatUnit(), c.coolUnit()

	var out Outputs
	out.Heat = c.keep(now, &c.heat, hu, wantHeat, cutHeat, &st.heatHold)
	out.Cool = c.keep(now, &c.cool, cu, wantCool, cutCool, &st.coolHold)
	out.Reversing = c.valve(wantHeat, wantCool)
	valveMoves := cfg.HasReversing && (out.Reversing != c.out.Reversing || un.Reversing)
	if wantHeat && !cutHeat && !c.heat.on {
		changeover := set.Mode == ModeAuto && !c.freeze
		out.Heat = c.start(now, sn, &c.heat, &c.cool, hu, "cooling", changeover, cfg.HeatPump && valveMoves, un.Reversing, &st.wait)
	}
	if wantCool && !cutCool && !c.cool.on && !out.Heat {
		out.Cool = c.start(now, sn, &c.cool, &c.heat, cu, "heating", set.Mode == ModeAuto, valveMoves, un.Reversing, &st.wait)
	}

	if cfg.HasHeat2 {
		t := heatT
		if !c.heatCall {
			t = cfg.Freeze + cfg.HeatDiff
		}
		out.Heat2 = c.stage2(&c.heat2, out.Heat && c.heat.on && wantHeat, now-c.heat.onAt, cur < t, cur <= t-cfg.Stage2Diff)
	}
	if cfg.HasCool2 {
		out.Cool2 = c.stage2(&c.cool2, out.Cool && c.cool.on && wantCool, now-c.cool.onAt, cur > coolT, cur >= coolT+cfg.Stage2Diff)
	}
	st.stage2 = out.Heat2 || out.Cool2
	if cfg.HasFan {
		out.Fan, st.fan = c.fan(now, out)
	}

	// Only relays that exist; second stages only with their first; and
	// never heat with cool, whatever went wrong above or in the wiring.
	out.Heat = out.Heat && cfg.HasHeat
	out.Heat2 = out.Heat2 && cfg.HasHeat2 && out.Heat
	out.Cool = out.Cool && cfg.HasCool
	out.Cool2 = out.Cool2 && cfg.HasCool2 && out.Cool
	out.Reversing = out.Reversing && cfg.HasReversing
	if out.Heat && out.Cool || c.heat.on && c.cool.on {
		out.Heat, out.Heat2, out.Cool, out.Cool2 = false, false, false, false
		st.interlock = true
	}

	if !st.fresh {
		c.alert(txtNoSensor)
	}
	if c.freeze {
		c.alert(txtFreeze)
	}
	if st.over {
		c.alert(c.txt.over)
	}
	if cfg.MaxRun > 0 && c.heat.on && now-c.heat.runFrom > cfg.MaxRun {
		c.alert(c.txt.maxRunHeat)
	}
	if cfg.MaxRun > 0 && c.cool.on && now-c.cool.runFrom > cfg.MaxRun {
		c.alert(c.txt.maxRunCool)
	}
	for i, down := range [...]bool{un.Heat, un.Heat2, un.Cool, un.Cool2, un.Fan, un.Reversing} {
		if down && [...]bool{cfg.HasHeat, cfg.HasHeat2, cfg.HasCool, cfg.HasCool2, cfg.HasFan, cfg.HasReversing}[i] {
			c.alert(txtUnavailable[i])
		}
	}
	if st.interlock {
		c.alert(txtInterlock)
	}
	return out, st
}

func (c *Controller) targets() (heat, cool float64) {
	if c.set.Mode == ModeAuto {
		return c.set.TargetLow, c.set.TargetHigh
	}
	return c.set.Target, c.set.Target
}

// keep decides a relay that is (or may be) on: it stays on while wanted,
// and for its minimum on time unless a safety cut-off stops it.
func (c *Controller) keep(now time.Duration, r *relay, u unit, want, cut bool, hold *wait) bool {
	switch {
	case !r.on, cut:
		return false
	case r.doubt && !r.cmd:
		return false // told to stop and not yet seen stopped: it may have, so never back on
	case want:
		return true
	}
	if left := u.minOn - (now - r.onAt); left > 0 {
		*hold = wait{kind: waitMinOn, unit: u.name, left: left}
		if r.tentative {
			hold.kind = waitUnconfirmed
		}
		return true
	}
	return false
}

// start decides whether a relay that is off may switch on now, and notes
// what holds it back. Unavailable is no reason to wait: the relay is then
// taken to be on from now until it reads back off.
func (c *Controller) start(now time.Duration, sn sensing, r, other *relay, u unit, otherVerb string, changeover, valveMoves, valveUnavailable bool, w *wait) bool {
	if other.on {
		*w = wait{kind: waitOther, unit: otherVerb}
		return false
	}
	if left := u.minOff - (now - c.offSince(r)); left > 0 {
		*w = wait{kind: waitMinOff, unit: u.name, left: left}
	}
	if changeover && other.ran {
		if left := c.cfg.ChangeoverDelay - (now - other.offAt); left > 0 && left > w.left {
			*w = wait{kind: waitChangeover, unit: otherVerb, left: left}
		}
	}
	switch {
	case w.kind != waitNone:
	case valveUnavailable && valveMoves:
		*w = wait{kind: waitValveUnavailable}
	case valveMoves:
		*w = wait{kind: waitValve}
	case sn.newest+c.cfg.StaleAfter-now <= u.minOn:
		// The reading would go stale before the minimum on time is up.
		*w = wait{kind: waitReading, unit: u.name}
	default:
		return true
	}
	return false
}

// valve is the reversing valve's output. It moves only while the
// compressor is off, and ahead of a start, to the direction wanted.
func (c *Controller) valve(wantHeat, wantCool bool) bool {
	if !c.cfg.HasReversing {
		return false
	}
	if c.heat.on || c.cool.on {
		return c.out.Reversing
	}
	dir := dirNone
	switch {
	case wantHeat:
		dir = dirHeat
	case wantCool:
		dir = dirCool
	case c.set.Mode == ModeHeat:
		dir = dirHeat
	case c.set.Mode == ModeCool:
		dir = dirCool
	case c.set.Mode == ModeAuto:
		dir = c.lastDir
	}
	if c.cfg.ReversingInHeat {
		return dir == dirHeat
	}
	return dir == dirCool
}

// stage2 latches a second stage on for the rest of a call once stage 1 has
// run Stage2After short of target, or at once when far off.
func (c *Controller) stage2(latch *bool, running bool, onFor time.Duration, short, far bool) bool {
	if !running {
		*latch = false
		return false
	}
	if far || short && onFor >= c.cfg.Stage2After {
		*latch = true
	}
	return *latch
}

// fan decides the fan and says why it runs.
func (c *Controller) fan(now time.Duration, out Outputs) (bool, wait) {
	switch {
	case out.Heat || out.Cool:
		return true, wait{}
	case c.heat.on || c.cool.on: // stopping: the overrun starts when it reads off
		return true, wait{kind: fanStopping}
	case c.set.Mode == ModeFanOnly:
		return true, wait{kind: fanOnly}
	case c.set.Fan == FanOn:
		return true, wait{kind: fanOn}
	}
	if left := c.cfg.FanOverrun - (now - c.hvacOnAt); c.hvacRan && left > 0 {
		return true, wait{kind: fanOverrun, left: left}
	}
	if c.set.Fan == FanCirculate {
		need := c.cfg.Circulate - c.circRun
		left := time.Duration(c.circHour+1)*time.Hour - now
		if need > 0 && left <= need {
			return true, wait{kind: fanCirculate, left: left}
		}
	}
	return false, wait{}
}

func (c *Controller) alert(s string) { c.alertBuf = append(c.alertBuf, s) }

// publishAlerts hands out the alerts. A slice once handed out is never
// written again, so callers may keep it; while the alerts stay the same
// the same slice is handed out, which costs nothing.
func (c *Controller) publishAlerts() []string {
	if !slices.Equal(c.alertBuf, c.published) {
		c.published = slices.Clone(c.alertBuf)
	}
	return c.published
}
