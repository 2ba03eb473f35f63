package daemon

import "time"

// The drivers' config checks. Their builders are in hw_build.go.

func init() {
	sensor := func(addrs ...int) func(c *partCheck) {
		return func(c *partCheck) {
			c.i2c(addrs...)
			c.entityKind("sensor")
			c.duration("interval", c.part.Interval, time.Second, 24*time.Hour)
			c.none("debounce", "pins", "travel", "pulse")
		}
	}
	registerCheck("sht3x", sensor(0x44, 0x45))
	registerCheck("bme280", sensor(0x76, 0x77))
	registerCheck("mcp9808", sensor(0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F))
	registerCheck("mcp23017", func(c *partCheck) {
		c.i2c(0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27)
		c.none("debounce", "pins", "travel", "pulse", "entity", "interval")
	})
	registerCheck("relay", func(c *partCheck) {
		c.expander()
		c.line("pin", c.part.Pin)
		c.level("active", c.part.Active, "high")
		c.entityKind("switch")
		c.none("bus", "addr", "pull", "debounce", "pins", "travel", "relay", "pulse", "interval")
	})
	registerCheck("contact", func(c *partCheck) {
		c.expander()
		c.line("pin", c.part.Pin)
		c.level("active", c.part.Active, "low")
		switch c.part.Pull {
		case "", "up", "none":
		case "down":
			if c.part.Expander != "" {
				c.add("pull", "an mcp23017 has no pull-down: use up or none")
			}
		default:
			c.add("pull", "must be up, down or none, got %q", c.part.Pull)
		}
		c.duration("debounce", c.part.Debounce, time.Millisecond, 5*time.Second)
		c.entityKind("contact")
		c.none("bus", "addr", "pins", "travel", "relay", "pulse", "interval")
	})
	registerCheck("bolt", func(c *partCheck) {
		c.expander()
		ps := c.part.Pins
		c.line("pins.extend", ps.Extend)
		c.line("pins.retract", ps.Retract)
		c.line("pins.extended", ps.Extended)
		c.line("pins.retracted", ps.Retracted)
		seen := map[string]bool{}
		for _, p := range []string{ps.Extend, ps.Retract, ps.Extended, ps.Retracted} {
			if p != "" && seen[p] {
				c.add("pins", "line %s is used twice", p)
			}
			seen[p] = true
		}
		c.level("active", c.part.Active, "low")
		if c.part.Active == "high" && c.part.Expander != "" {
			c.add("active", "limit switches that close high need a pull-down, which an mcp23017 does not have")
		}
		c.duration("travel", c.part.Travel, 100*time.Millisecond, time.Minute)
		c.none("bus", "addr", "pin", "pull", "debounce", "relay", "pulse", "entity", "interval")
	})
	registerCheck("strike", func(c *partCheck) {
		r, ok := c.parts[c.part.Relay]
		switch {
		case c.part.Relay == "":
			c.add("relay", "is required: the relay part that drives the strike")
		case !ok:
			c.add("relay", "no part named %q", c.part.Relay)
		case r.Driver != "relay":
			c.add("relay", "part %q is a %s, not a relay", c.part.Relay, r.Driver)
		}
		c.duration("pulse", c.part.Pulse, 100*time.Millisecond, time.Minute)
		c.none("bus", "addr", "pin", "expander", "active", "pull", "debounce", "pins", "travel", "entity", "interval")
	})
}
