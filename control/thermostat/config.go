package thermostat

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Mode is the system mode people choose.
type Mode string

// The modes.
const (
	ModeOff     Mode = "off"
	ModeHeat    Mode = "heat"
	ModeCool    Mode = "cool"
	ModeAuto    Mode = "auto"
	ModeFanOnly Mode = "fan_only"
)

// FanMode is what the fan does when neither heating nor cooling needs it.
type FanMode string

// The fan modes.
const (
	FanAuto      FanMode = "auto"
	FanOn        FanMode = "on"
	FanCirculate FanMode = "circulate"
)

// Action is what the equipment is doing.
type Action string

// The actions.
const (
	ActionOff     Action = "off"
	ActionIdle    Action = "idle"
	ActionHeating Action = "heating"
	ActionCooling Action = "cooling"
	ActionFan     Action = "fan"
)

// Config describes the equipment and how carefully to drive it. Every
// default is explained in doc.go.
type Config struct {
	HasHeat, HasCool, HasFan, HasHeat2, HasCool2, HasReversing bool // which relays exist
	ReversingInHeat                                            bool // O/B energised in heat (B) rather than in cool (O, the default)

	HeatDiff, CoolDiff float64       // [0.5] °C below (heat) or above (cool) the target where a call starts
	MinGap             float64       // [1.5] °C: auto needs TargetHigh - TargetLow at least this
	CompMinOff         time.Duration // [5m] compressor (cool, and heat on a heat pump)
	CompMinOn          time.Duration // [3m]
	HeatMinOff         time.Duration // [1m] furnace
	HeatMinOn          time.Duration // [0] furnace
	FanOverrun         time.Duration // [1m] the fan keeps running after heating or cooling stops
	Stage2After        time.Duration // [10m] second stage after stage 1 has run this long short of target...
	Stage2Diff         float64       // [1.5] °C ...or at once when this far off
	ChangeoverDelay    time.Duration // [10m] auto: minimum time between heating and cooling
	MaxRun             time.Duration // [2h] a longer single run raises an alert (0: no alert)
	Circulate          time.Duration // [10m] fan time per hour in fan mode circulate
	StaleAfter         time.Duration // [5m] a sensor with no good reading for this long drops out
	Freeze, OverTemp   float64       // [5], [32] °C
	MinSetpoint        float64       // [7] °C
	MaxSetpoint        float64       // [30] °C
	HeatPump           bool          // heating uses the compressor: its minimum times apply to heat too
}

// DefaultConfig returns the defaults, for a heat-only system (one W1
// relay); set the Has fields to the relays that are wired.
func DefaultConfig() Config {
	return Config{
		HasHeat:  true,
		HeatDiff: 0.5, CoolDiff: 0.5, MinGap: 1.5,
		CompMinOff: 5 * time.Minute, CompMinOn: 3 * time.Minute,
		HeatMinOff: time.Minute, HeatMinOn: 0,
		FanOverrun:  time.Minute,
		Stage2After: 10 * time.Minute, Stage2Diff: 1.5,
		ChangeoverDelay: 10 * time.Minute,
		MaxRun:          2 * time.Hour,
		Circulate:       10 * time.Minute,
		StaleAfter:      5 * time.Minute,
		Freeze:          5, OverTemp: 32,
		MinSetpoint: 7, MaxSetpoint: 30,
	}
}

// FieldError is a problem with one field of a Config or Settings.
type FieldError struct {
	Field   string // as in the Go struct: "CompMinOff", "Target"
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// within is false for NaN.
func within(x, lo, hi float64) bool { return x >= lo && x <= hi }

// Validate checks every field. The error joins one *FieldError per problem.
func (c Config) Validate() error {
	var p problems
	if !c.HasHeat && !c.HasCool && !c.HasFan {
		p.add("HasHeat", "no relay: at least one of HasHeat, HasCool, HasFan")
	}
	if c.HasHeat2 && !c.HasHeat {
		p.add("HasHeat2", "a second heating stage needs the first (HasHeat)")
	}
	if c.HasCool2 && !c.HasCool {
		p.add("HasCool2", "a second cooling stage needs the first (HasCool)")
	}
	if c.HeatPump && !c.HasHeat {
		p.add("HeatPump", "a heat pump heats: needs HasHeat")
	}
	if c.HasReversing && (!c.HeatPump || !c.HasCool) {
		p.add("HasReversing", "a reversing valve needs HeatPump and HasCool")
	}
	if c.ReversingInHeat && !c.HasReversing {
		p.add("ReversingInHeat", "set without a reversing valve (HasReversing)")
	}
	for _, f := range []struct {
		name    string
		v       float64
		lo, hi  float64
		because string
	}{
		{"HeatDiff", c.HeatDiff, 0.1, 5, "finer than sensors resolve, or a band wider than comfort"},
		{"CoolDiff", c.CoolDiff, 0.1, 5, "finer than sensors resolve, or a band wider than comfort"},
		{"MinGap", c.MinGap, 0.5, 10, "auto needs room between heating and cooling"},
		{"Stage2Diff", c.Stage2Diff, 0.1, 10, ""},
		{"Freeze", c.Freeze, 0, 15, ""},
		{"OverTemp", c.OverTemp, 20, 60, ""},
		{"MinSetpoint", c.MinSetpoint, 0, 40, ""},
		{"MaxSetpoint", c.MaxSetpoint, 0, 40, ""},
	} {
		if !within(f.v, f.lo, f.hi) {
			msg := fmt.Sprintf("must be between %g and %g °C, got %g", f.lo, f.hi, f.v)
			if f.because != "" {
				msg += " (" + f.because + ")"
			}
			p.add(f.name, "%s", msg)
		}
	}
	if !(c.MaxSetpoint-c.MinSetpoint >= c.MinGap) {
		p.add("MaxSetpoint", "must be at least MinGap (%g) above MinSetpoint (%g), got %g", c.MinGap, c.MinSetpoint, c.MaxSetpoint)
	}
	if !(c.Freeze+c.HeatDiff <= c.MinSetpoint) {
		p.add("Freeze", "freeze protection (%g + HeatDiff %g) must end at or below MinSetpoint (%g)", c.Freeze, c.HeatDiff, c.MinSetpoint)
	}
	if !(c.OverTemp > c.MaxSetpoint) {
		p.add("OverTemp", "must be above MaxSetpoint (%g), or heating to a valid setpoint would trip it; got %g", c.MaxSetpoint, c.OverTemp)
	}
	for _, f := range []struct {
		name     string
		v        time.Duration
		lo, hi   time.Duration
		zeroOkay bool
	}{
		{"CompMinOff", c.CompMinOff, time.Second, 30 * time.Minute, true},
		{"CompMinOn", c.CompMinOn, time.Second, 30 * time.Minute, true},
		{"HeatMinOff", c.HeatMinOff, time.Second, 30 * time.Minute, true},
		{"HeatMinOn", c.HeatMinOn, time.Second, 30 * time.Minute, true},
		{"FanOverrun", c.FanOverrun, time.Second, 10 * time.Minute, true},
		{"Stage2After", c.Stage2After, time.Second, 2 * time.Hour, true},
		{"ChangeoverDelay", c.ChangeoverDelay, time.Second, 2 * time.Hour, true},
		{"MaxRun", c.MaxRun, 10 * time.Minute, 24 * time.Hour, true},
		{"Circulate", c.Circulate, time.Second, time.Hour, true},
		{"StaleAfter", c.StaleAfter, 10 * time.Second, time.Hour, false},
	} {
		if (f.v != 0 || !f.zeroOkay) && (f.v < f.lo || f.v > f.hi) {
			zero := ""
			if f.zeroOkay {
				zero = "0 or "
			}
			p.add(f.name, "must be %sbetween %s and %s, got %s", zero, f.lo, f.hi, f.v)
		}
	}
	// A start needs a reading that stays fresh for the whole minimum on time,
	// so that losing the sensor never has to cut a run short (see doc.go).
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"CompMinOn", c.CompMinOn}, {"HeatMinOn", c.HeatMinOn}} {
		if c.StaleAfter < f.v+time.Minute {
			p.add("StaleAfter", "must be at least a minute longer than %s (%s), got %s", f.name, f.v, c.StaleAfter)
		}
	}
	return errors.Join(p...)
}

// Settings are what people set, through commands, presets and schedules.
type Settings struct {
	Mode                  Mode
	Fan                   FanMode
	Target                float64 // °C: heat and cool modes
	TargetLow, TargetHigh float64 // °C: auto
}

// CheckSettings checks s against the config: a mode needs its relays, and
// the setpoints the mode uses must be within the limits. The error joins
// one *FieldError per problem.
func (c Config) CheckSettings(s Settings) error {
	var p problems
	switch s.Mode {
	case ModeOff:
	case ModeHeat:
		if !c.HasHeat {
			p.add("Mode", "heat needs a heat relay")
		}
	case ModeCool:
		if !c.HasCool {
			p.add("Mode", "cool needs a cool relay")
		}
	case ModeAuto:
		if !c.HasHeat || !c.HasCool {
			p.add("Mode", "auto needs both a heat and a cool relay")
		}
	case ModeFanOnly:
		if !c.HasFan {
			p.add("Mode", "fan_only needs a fan relay")
		}
	default:
		p.add("Mode", "unknown mode %q (off, heat, cool, auto, fan_only)", s.Mode)
	}
	switch s.Fan {
	case FanAuto:
	case FanOn, FanCirculate:
		if !c.HasFan {
			p.add("Fan", "%s needs a fan relay", s.Fan)
		}
	default:
		p.add("Fan", "unknown fan mode %q (auto, on, circulate)", s.Fan)
	}
	limit := func(field string, v float64) {
		if !within(v, c.MinSetpoint, c.MaxSetpoint) {
			p.add(field, "must be between %g and %g °C, got %g", c.MinSetpoint, c.MaxSetpoint, v)
		}
	}
	switch s.Mode {
	case ModeHeat, ModeCool:
		limit("Target", s.Target)
	case ModeAuto:
		limit("TargetLow", s.TargetLow)
		limit("TargetHigh", s.TargetHigh)
		// A hair of tolerance: 22.6 - 21.1 is not quite 1.5 in floating point.
		if gap := s.TargetHigh - s.TargetLow; !(gap >= c.MinGap-1e-9) && !math.IsNaN(gap) {
			p.add("TargetHigh", "must be at least %g °C above TargetLow (%g), got %g", c.MinGap, s.TargetLow, s.TargetHigh)
		}
	}
	return errors.Join(p...)
}
