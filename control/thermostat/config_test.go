package thermostat

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfig_Validate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate()=%v, want nil", err)
	}
	for _, cfg := range []Config{furnaceConfig(), heatPumpConfig(), furnaceACConfig()} {
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Validate(%+v)=%v, want nil", cfg, err)
		}
	}
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"HasHeat", func(c *Config) { c.HasHeat = false }},
		{"HasHeat2", func(c *Config) { c.HasHeat, c.HasFan, c.HasHeat2 = false, true, true }},
		{"HasCool2", func(c *Config) { c.HasCool2 = true }},
		{"HeatPump", func(c *Config) { c.HasHeat, c.HasCool, c.HeatPump = false, true, true }},
		{"HasReversing", func(c *Config) { c.HasReversing = true }},
		{"ReversingInHeat", func(c *Config) { c.ReversingInHeat = true }},
		{"HeatDiff", func(c *Config) { c.HeatDiff = 0 }},
		{"HeatDiff", func(c *Config) { c.HeatDiff = math.NaN() }},
		{"CoolDiff", func(c *Config) { c.CoolDiff = 6 }},
		{"MinGap", func(c *Config) { c.MinGap = 0.1 }},
		{"Stage2Diff", func(c *Config) { c.Stage2Diff = -1 }},
		{"Freeze", func(c *Config) { c.Freeze = -5 }},
		{"Freeze", func(c *Config) { c.Freeze = 7 }}, // 7 + 0.5 > MinSetpoint 7
		{"OverTemp", func(c *Config) { c.OverTemp = math.Inf(1) }},
		{"OverTemp", func(c *Config) { c.OverTemp = 29 }},
		{"MinSetpoint", func(c *Config) { c.MinSetpoint = -1 }},
		{"MaxSetpoint", func(c *Config) { c.MaxSetpoint = 50 }},
		{"MaxSetpoint", func(c *Config) { c.MaxSetpoint = 8 }},
		{"CompMinOff", func(c *Config) { c.CompMinOff = 300 }}, // 300ns: seconds meant
		{"CompMinOff", func(c *Config) { c.CompMinOff = -time.Second }},
		{"CompMinOn", func(c *Config) { c.CompMinOn = time.Hour }},
		{"HeatMinOff", func(c *Config) { c.HeatMinOff = 31 * time.Minute }},
		{"HeatMinOn", func(c *Config) { c.HeatMinOn = -1 }},
		{"FanOverrun", func(c *Config) { c.FanOverrun = 11 * time.Minute }},
		{"Stage2After", func(c *Config) { c.Stage2After = 3 * time.Hour }},
		{"ChangeoverDelay", func(c *Config) { c.ChangeoverDelay = 5 }},
		{"MaxRun", func(c *Config) { c.MaxRun = time.Minute }},
		{"Circulate", func(c *Config) { c.Circulate = 61 * time.Minute }},
		{"StaleAfter", func(c *Config) { c.StaleAfter = 0 }},
		{"StaleAfter", func(c *Config) { c.StaleAfter = 3 * time.Minute }}, // not a minute past CompMinOn
		{"StaleAfter", func(c *Config) { c.HeatMinOn = 4*time.Minute + time.Second }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate()=%v, want a *FieldError", err)
			}
			if !strings.Contains(err.Error(), tc.field+": ") {
				t.Fatalf("Validate()=%q, want it to name %s", err, tc.field)
			}
		})
	}
	// Zero disables what may be disabled.
	cfg := DefaultConfig()
	cfg.MaxRun, cfg.Circulate, cfg.FanOverrun, cfg.ChangeoverDelay, cfg.CompMinOff = 0, 0, 0, 0, 0
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() with zeros=%v, want nil", err)
	}
}

func TestConfig_CheckSettings(t *testing.T) {
	heatOnly, full := DefaultConfig(), heatPumpConfig()
	for _, tc := range []struct {
		name  string
		cfg   Config
		s     Settings
		field string // "" if valid
	}{
		{"heat", heatOnly, heat(21), ""},
		{"off ignores targets", heatOnly, Settings{Mode: ModeOff, Fan: FanAuto}, ""},
		{"auto", full, auto(20, 21.5), ""},
		{"auto float gap", full, auto(21.1, 22.6), ""},
		{"fan only", full, Settings{Mode: ModeFanOnly, Fan: FanCirculate}, ""},
		{"unknown mode", heatOnly, Settings{Mode: "eco", Fan: FanAuto}, "Mode"},
		{"cool without relay", heatOnly, cool(24), "Mode"},
		{"auto without cool", heatOnly, auto(20, 24), "Mode"},
		{"fan only without fan", heatOnly, Settings{Mode: ModeFanOnly, Fan: FanAuto}, "Mode"},
		{"unknown fan", heatOnly, Settings{Mode: ModeOff, Fan: ""}, "Fan"},
		{"fan on without fan", heatOnly, Settings{Mode: ModeOff, Fan: FanOn}, "Fan"},
		{"target low", heatOnly, heat(6.9), "Target"},
		{"target high", heatOnly, heat(30.1), "Target"},
		{"target NaN", heatOnly, heat(math.NaN()), "Target"},
		{"auto low", full, auto(5, 24), "TargetLow"},
		{"auto high", full, auto(20, 31), "TargetHigh"},
		{"auto gap", full, auto(21, 22), "TargetHigh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.CheckSettings(tc.s)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("CheckSettings(%+v)=%v, want nil", tc.s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field+": ") {
				t.Fatalf("CheckSettings(%+v)=%v, want an error naming %s", tc.s, err, tc.field)
			}
		})
	}
}
