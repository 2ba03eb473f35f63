package daemon

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hearth-hub/hearth/hub"
)

// The hardware backends.
const (
	BackendSim    = "sim"    // the simulated house: no hardware needed
	BackendPeriph = "periph" // the board's own I2C buses and GPIO lines, through periph.io
)

// HardwareConfig names the parts wired to the board and what they are.
type HardwareConfig struct {
	Backend string       `yaml:"backend"` // [sim] sim | periph
	Sim     SimConfig    `yaml:"sim"`
	Parts   []PartConfig `yaml:"parts"`
}

// SimConfig tunes the simulated house.
type SimConfig struct {
	Speed   float64 `yaml:"speed"`               // [1] simulated seconds per real second, 1..3600
	Outside float64 `yaml:"outside_temperature"` // [5] °C
	Room    float64 `yaml:"room_temperature"`    // [19] °C when hearthd starts
}

// PartConfig is one part: a chip on an I2C bus, or a device on GPIO lines.
// Which fields apply depends on the driver; docs/HARDWARE.md lists them.
type PartConfig struct {
	Name     string   `yaml:"name"`     // [a-z0-9_]+, unique; other parts refer to it
	Driver   string   `yaml:"driver"`   // sht3x, bme280, mcp9808, mcp23017, relay, contact, bolt, strike
	Bus      string   `yaml:"bus"`      // I2C chips: the bus, "1" for /dev/i2c-1
	Addr     int      `yaml:"addr"`     // I2C chips: the 7-bit address, e.g. 0x44
	Pin      string   `yaml:"pin"`      // relay, contact: "GPIO17", or "3" on an expander
	Expander string   `yaml:"expander"` // relay, contact, bolt: the mcp23017 part the pins are on
	Active   string   `yaml:"active"`   // relay: level that energises it; contact: level when closed; high | low
	Pull     string   `yaml:"pull"`     // contact: up | down | none
	Debounce Duration `yaml:"debounce"` // contact: [30ms]
	Pins     BoltPins `yaml:"pins"`     // bolt: its four lines
	Travel   Duration `yaml:"travel"`   // bolt: [5s] end-to-end travel timeout; later means jammed
	Relay    string   `yaml:"relay"`    // strike: the relay part that drives it
	Pulse    Duration `yaml:"pulse"`    // strike: [3s] how long it is released
	Entity   string   `yaml:"entity"`   // sensors, contacts, relays: publish as this entity
	Interval Duration `yaml:"interval"` // sensors: [30s] time between readings
}

// BoltPins are a bolt's lines: the H-bridge inputs and the limit switches.
type BoltPins struct {
	Extend    string `yaml:"extend"`
	Retract   string `yaml:"retract"`
	Extended  string `yaml:"extended"`
	Retracted string `yaml:"retracted"`
}

func (c *Config) validateHardware(p *problems) {
	h := &c.Hardware
	p.oneOf("hardware.backend", h.Backend, BackendSim, BackendPeriph)
	if s := h.Sim.Speed; s < 1 || s > 3600 {
		p.add("hardware.sim.speed", "must be between 1 and 3600, got %s", fmtFloat(s))
	}
	if o := h.Sim.Outside; o < -50 || o > 60 {
		p.add("hardware.sim.outside_temperature", "must be between -50 and 60 °C, got %s", fmtFloat(o))
	}
	if r := h.Sim.Room; r < -20 || r > 45 {
		p.add("hardware.sim.room_temperature", "must be between -20 and 45 °C, got %s", fmtFloat(r))
	}
	byName := map[string]*PartConfig{}
	entities := map[string]string{}
	for i := range h.Parts {
		pt := &h.Parts[i]
		at := fmt.Sprintf("hardware.parts[%d]", i)
		if err := checkPartName(pt.Name); err != nil {
			p.add(at+".name", "%v", err)
		} else if _, dup := byName[pt.Name]; dup {
			p.add(at+".name", "part %q is declared twice", pt.Name)
		} else {
			byName[pt.Name] = pt
		}
		if pt.Entity != "" {
			if _, err := hub.ParseID(pt.Entity); err != nil {
				p.add(at+".entity", "%v", err)
			} else if prev, dup := entities[pt.Entity]; dup {
				p.add(at+".entity", "%s is already part %q's entity", pt.Entity, prev)
			} else {
				entities[pt.Entity] = pt.Name
			}
		}
	}
	for _, v := range c.Virtual {
		if owner, dup := entities[v.ID]; dup {
			p.add("hardware.parts", "entity %s is both a virtual entity and part %q's", v.ID, owner)
		}
	}
	for i := range h.Parts {
		pt := &h.Parts[i]
		at := fmt.Sprintf("hardware.parts[%d]", i)
		d, ok := drivers[pt.Driver]
		if !ok {
			p.add(at+".driver", "unknown driver %q (known: %s)", pt.Driver, strings.Join(driverNames(), ", "))
			continue
		}
		d.validate(&partCheck{p: p, at: at, part: pt, parts: byName})
	}
}

func checkPartName(s string) error {
	if s == "" {
		return fmt.Errorf("is required")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("%q: only a-z, 0-9 and _ are allowed", s)
		}
	}
	return nil
}

// partCheck is what a driver's validate gets: the part, where it is in the
// file, and the other parts by name.
type partCheck struct {
	p     *problems
	at    string
	part  *PartConfig
	parts map[string]*PartConfig
}

func (c *partCheck) add(field, format string, args ...any) {
	c.p.add(c.at+"."+field, format, args...)
}

// i2c checks bus and addr against the addresses the chip can have.
func (c *partCheck) i2c(addrs ...int) {
	if c.part.Bus == "" {
		c.add("bus", "is required for %s (the I2C bus, e.g. \"1\")", c.part.Driver)
	}
	if !slices.Contains(addrs, c.part.Addr) {
		var s []string
		for _, a := range addrs {
			s = append(s, fmt.Sprintf("%#02x", a))
		}
		c.add("addr", "%s answers only at %s, got %#02x", c.part.Driver, strings.Join(s, ", "), c.part.Addr)
	}
	c.none("pin", "expander", "active", "pull", "relay")
}

// line checks a pin name, on the board or on an expander.
func (c *partCheck) line(field, pin string) {
	switch {
	case pin == "":
		c.add(field, "is required for %s", c.part.Driver)
	case c.part.Expander != "":
		var n int
		if _, err := fmt.Sscanf(pin, "%d", &n); err != nil || n < 0 || n > 15 || fmt.Sprint(n) != pin {
			c.add(field, "on expander %q a pin is 0 to 15, got %q", c.part.Expander, pin)
		}
	case !strings.HasPrefix(pin, "GPIO"):
		c.add(field, "want a line name such as GPIO17, got %q", pin)
	}
}

// expander checks that the expander, if any, is an mcp23017 part.
func (c *partCheck) expander() {
	e := c.part.Expander
	if e == "" {
		return
	}
	if x, ok := c.parts[e]; !ok {
		c.add("expander", "no part named %q", e)
	} else if x.Driver != "mcp23017" {
		c.add("expander", "part %q is a %s, not an mcp23017", e, x.Driver)
	}
}

func (c *partCheck) level(field, v string, def string) {
	if v != "" && v != "high" && v != "low" {
		c.add(field, "must be high or low, got %q", v)
	}
}

// entityKind checks the entity's kind, if the part has one.
func (c *partCheck) entityKind(kind string) {
	if id := c.part.Entity; id != "" && hub.ID(id).Kind() != kind {
		c.add("entity", "a %s part is shown as a %s.<name> entity, got %q", c.part.Driver, kind, id)
	}
}

// none reports fields set that the driver does not use.
func (c *partCheck) none(fields ...string) {
	set := map[string]bool{
		"bus": c.part.Bus != "", "addr": c.part.Addr != 0, "pin": c.part.Pin != "", "expander": c.part.Expander != "",
		"active": c.part.Active != "", "pull": c.part.Pull != "", "debounce": c.part.Debounce != 0,
		"pins": c.part.Pins != (BoltPins{}), "travel": c.part.Travel != 0, "relay": c.part.Relay != "",
		"pulse": c.part.Pulse != 0, "entity": c.part.Entity != "", "interval": c.part.Interval != 0,
	}
	for _, f := range fields {
		if set[f] {
			c.add(f, "does not apply to a %s part", c.part.Driver)
		}
	}
}

func (c *partCheck) duration(field string, d Duration, lo, hi time.Duration) {
	if d != 0 && (time.Duration(d) < lo || time.Duration(d) > hi) {
		c.add(field, "must be between %s and %s, got %s", lo, hi, time.Duration(d))
	}
}
