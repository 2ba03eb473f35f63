package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/hearth-hub/hearth/control/thermostat"
	"github.com/hearth-hub/hearth/hub"
)

// ThermostatConfig declares a thermostat: the sensors it reads, the relay
// parts it drives, and its control settings. Zero durations and
// temperatures take the defaults in docs/CONTROL.md.
type ThermostatConfig struct {
	ID          string   `yaml:"id"`           // thermostat.<name>
	Name        string   `yaml:"name"`         // for people
	Sensors     []string `yaml:"sensors"`      // sensor entities whose temperature it reads (the mean of the fresh ones)
	Humidity    string   `yaml:"humidity"`     // optional: the sensor entity whose humidity it shows
	Heat        string   `yaml:"heat"`         // relay part on W1
	Heat2       string   `yaml:"heat2"`        // relay part on W2
	Cool        string   `yaml:"cool"`         // relay part on Y1
	Cool2       string   `yaml:"cool2"`        // relay part on Y2
	Fan         string   `yaml:"fan"`          // relay part on G
	Reversing   string   `yaml:"reversing"`    // relay part on O/B
	ReversingIn string   `yaml:"reversing_in"` // [cool] cool (O) | heat (B)
	HeatPump    bool     `yaml:"heat_pump"`    // heating uses the compressor: its minimum times apply to heat too

	Mode       string   `yaml:"mode"`        // [off] at first start; afterwards the last one set is kept
	FanMode    string   `yaml:"fan_mode"`    // [auto]
	Target     *float64 `yaml:"target"`      // [20]
	TargetLow  *float64 `yaml:"target_low"`  // [19]
	TargetHigh *float64 `yaml:"target_high"` // [24]

	HeatDifferential   *float64       `yaml:"heat_differential"`   // [0.5] °C
	CoolDifferential   *float64       `yaml:"cool_differential"`   // [0.5] °C
	AutoGap            *float64       `yaml:"auto_gap"`            // [1.5] °C
	CompressorMinOff   Duration       `yaml:"compressor_min_off"`  // [5m]
	CompressorMinOn    Duration       `yaml:"compressor_min_on"`   // [3m]
	HeatMinOff         Duration       `yaml:"heat_min_off"`        // [1m]
	HeatMinOn          Duration       `yaml:"heat_min_on"`         // [0] furnace minimum run
	FanOverrun         Duration       `yaml:"fan_overrun"`         // [1m]
	Stage2After        Duration       `yaml:"stage2_after"`        // [10m]
	Stage2Differential *float64       `yaml:"stage2_differential"` // [1.5] °C
	ChangeoverDelay    Duration       `yaml:"changeover_delay"`    // [10m]
	MaxRun             Duration       `yaml:"max_run"`             // [2h]
	Circulate          Duration       `yaml:"circulate"`           // [10m] an hour
	StaleAfter         Duration       `yaml:"stale_after"`         // [5m]
	Freeze             *float64       `yaml:"freeze"`              // [5] °C
	OverTemperature    *float64       `yaml:"over_temperature"`    // [32] °C
	MinSetpoint        *float64       `yaml:"min_setpoint"`        // [7] °C
	MaxSetpoint        *float64       `yaml:"max_setpoint"`        // [30] °C
	Presets            []PresetConfig `yaml:"presets"`             // [home 21, away 16, sleep 18]
}

// PresetConfig is a named set of settings a thermostat can be put in.
type PresetConfig struct {
	Name       string   `yaml:"name"`
	Mode       string   `yaml:"mode"`
	Target     *float64 `yaml:"target"`
	TargetLow  *float64 `yaml:"target_low"`
	TargetHigh *float64 `yaml:"target_high"`
}

// LockConfig declares a lock: its actuator and its door contact.
type LockConfig struct {
	ID         string   `yaml:"id"` // lock.<name>
	Name       string   `yaml:"name"`
	Bolt       string   `yaml:"bolt"`        // a bolt part, or
	Strike     string   `yaml:"strike"`      // a strike part
	Door       string   `yaml:"door"`        // optional contact part: the door's reed switch
	AutoRelock Duration `yaml:"auto_relock"` // [0: off] relock this long after an unlock, once the door is shut
	Ajar       Duration `yaml:"ajar"`        // [60s] open longer than this is ajar
}

// controlFields maps the controller's field names to the config's keys.
var controlFields = map[string]string{
	"HasHeat": "heat", "HasHeat2": "heat2", "HasCool": "cool", "HasCool2": "cool2", "HasFan": "fan",
	"HasReversing": "reversing", "ReversingInHeat": "reversing_in", "HeatPump": "heat_pump",
	"HeatDiff": "heat_differential", "CoolDiff": "cool_differential", "MinGap": "auto_gap",
	"CompMinOff": "compressor_min_off", "CompMinOn": "compressor_min_on", "HeatMinOff": "heat_min_off",
	"HeatMinOn": "heat_min_on", "FanOverrun": "fan_overrun", "Stage2After": "stage2_after",
	"Stage2Diff": "stage2_differential", "ChangeoverDelay": "changeover_delay", "MaxRun": "max_run",
	"Circulate": "circulate", "StaleAfter": "stale_after", "Freeze": "freeze", "OverTemp": "over_temperature",
	"MinSetpoint": "min_setpoint", "MaxSetpoint": "max_setpoint",
	"Mode": "mode", "Fan": "fan_mode", "Target": "target", "TargetLow": "target_low", "TargetHigh": "target_high",
}

// addControlErrors reports the controller's field errors under the
// config's own keys.
func addControlErrors(p *problems, at string, err error) {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *thermostat.FieldError
		if errors.As(e, &fe) {
			key := controlFields[fe.Field]
			if key == "" {
				key = fe.Field
			}
			p.add(at+"."+key, "%s", fe.Problem)
			continue
		}
		p.add(at, "%v", e)
	}
}

func (c *Config) validateControl(p *problems) {
	parts := map[string]*PartConfig{}
	for i := range c.Hardware.Parts {
		parts[c.Hardware.Parts[i].Name] = &c.Hardware.Parts[i]
	}
	sensors := map[string]bool{}
	for _, pt := range c.Hardware.Parts {
		if _, ok := measures[pt.Driver]; ok && pt.Entity != "" {
			sensors[pt.Entity] = true
		}
	}
	used := map[string]string{} // part -> the appliance that drives it
	ids := map[string]bool{}
	for _, pt := range c.Hardware.Parts {
		ids[pt.Entity] = true
	}
	for _, v := range c.Virtual {
		ids[v.ID] = true
	}
	claim := func(at, field, part, driver, owner string) {
		if part == "" {
			return
		}
		pt, ok := parts[part]
		switch {
		case !ok:
			p.add(at+"."+field, "no part named %q", part)
		case pt.Driver != driver:
			p.add(at+"."+field, "part %q is a %s, not a %s", part, pt.Driver, driver)
		case pt.Entity != "" && driver != "contact":
			p.add(at+"."+field, "part %q also has entity %s: a part %s drives must not be switched by anyone else", part, pt.Entity, owner)
		case used[part] != "":
			p.add(at+"."+field, "part %q is already driven by %s", part, used[part])
		default:
			used[part] = owner
		}
	}
	entity := func(at, id, kind string) {
		parsed, err := hub.ParseID(id)
		switch {
		case err != nil:
			p.add(at+".id", "%v", err)
		case parsed.Kind() != kind:
			p.add(at+".id", "want %s.<name>, got %q", kind, id)
		case ids[id]:
			p.add(at+".id", "%s is declared twice", id)
		}
		ids[id] = true
	}
	for i := range c.Thermostats {
		t := &c.Thermostats[i]
		at := fmt.Sprintf("thermostats[%d]", i)
		entity(at, t.ID, "thermostat")
		if len(t.Sensors) == 0 {
			p.add(at+".sensors", "is required: at least one sensor entity with a temperature")
		}
		for j, s := range t.Sensors {
			if !sensors[s] {
				p.add(fmt.Sprintf("%s.sensors[%d]", at, j), "no sensor part has entity %q", s)
			}
		}
		if t.Humidity != "" && !sensors[t.Humidity] {
			p.add(at+".humidity", "no sensor part has entity %q", t.Humidity)
		}
		if t.Heat == "" && t.Cool == "" {
			p.add(at, "needs a heat or a cool relay")
		}
		for _, r := range []struct{ field, part string }{{"heat", t.Heat}, {"heat2", t.Heat2}, {"cool", t.Cool}, {"cool2", t.Cool2}, {"fan", t.Fan}, {"reversing", t.Reversing}} {
			claim(at, r.field, r.part, "relay", t.ID)
		}
		if t.Heat2 != "" && t.Heat == "" {
			p.add(at+".heat2", "a second heating stage needs the first (heat)")
		}
		if t.Cool2 != "" && t.Cool == "" {
			p.add(at+".cool2", "a second cooling stage needs the first (cool)")
		}
		if t.ReversingIn != "" && t.ReversingIn != "cool" && t.ReversingIn != "heat" {
			p.add(at+".reversing_in", "must be cool or heat, got %q", t.ReversingIn)
		}
		if cfg, err := t.controlConfig(); err != nil {
			addControlErrors(p, at, err)
		} else if _, err := t.initialSettings(cfg); err != nil {
			addControlErrors(p, at, err)
		}
	}
	for i := range c.Locks {
		l := &c.Locks[i]
		at := fmt.Sprintf("locks[%d]", i)
		entity(at, l.ID, "lock")
		switch {
		case l.Bolt == "" && l.Strike == "":
			p.add(at, "needs a bolt or a strike part")
		case l.Bolt != "" && l.Strike != "":
			p.add(at, "has both a bolt and a strike: choose one")
		}
		claim(at, "bolt", l.Bolt, "bolt", l.ID)
		claim(at, "strike", l.Strike, "strike", l.ID)
		claim(at, "door", l.Door, "contact", l.ID)
		if l.Strike != "" && l.AutoRelock != 0 {
			p.add(at+".auto_relock", "a strike relocks by itself at the end of its pulse: auto_relock is for bolts")
		}
		if a := time.Duration(l.AutoRelock); a != 0 && (a < 5*time.Second || a > 24*time.Hour) {
			p.add(at+".auto_relock", "must be 0 (off) or between 5s and 24h, got %s", a)
		}
		if a := time.Duration(l.Ajar); a != 0 && (a < time.Second || a > 24*time.Hour) {
			p.add(at+".ajar", "must be between 1s and 24h, got %s", a)
		}
	}
}
