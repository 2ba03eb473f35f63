package daemon

import (
	"fmt"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/drivers/bme280"
	"github.com/hearth-hub/hearth/drivers/bolt"
	"github.com/hearth-hub/hearth/drivers/contact"
	"github.com/hearth-hub/hearth/drivers/mcp23017"
	"github.com/hearth-hub/hearth/drivers/mcp9808"
	"github.com/hearth-hub/hearth/drivers/relay"
	"github.com/hearth-hub/hearth/drivers/sht3x"
	"github.com/hearth-hub/hearth/drivers/strike"
)

// The drivers' builders: each turns a validated part into its driver.

func init() {
	registerBuild("sht3x", func(hw *hardware, p *PartConfig) (any, error) {
		bus, err := hw.be.I2C(p.Bus)
		if err != nil {
			return nil, err
		}
		o := sht3x.DefaultOpts()
		o.Addr, o.Clock = uint16(p.Addr), hw.clock
		return sht3x.New(bus, &o)
	})
	registerBuild("bme280", func(hw *hardware, p *PartConfig) (any, error) {
		bus, err := hw.be.I2C(p.Bus)
		if err != nil {
			return nil, err
		}
		o := bme280.DefaultOpts()
		o.Addr, o.Clock = uint16(p.Addr), hw.clock
		return bme280.New(bus, &o)
	})
	registerBuild("mcp9808", func(hw *hardware, p *PartConfig) (any, error) {
		bus, err := hw.be.I2C(p.Bus)
		if err != nil {
			return nil, err
		}
		o := mcp9808.DefaultOpts()
		o.Addr, o.Clock = uint16(p.Addr), hw.clock
		return mcp9808.New(bus, &o)
	})
	registerBuild("mcp23017", func(hw *hardware, p *PartConfig) (any, error) {
		bus, err := hw.be.I2C(p.Bus)
		if err != nil {
			return nil, err
		}
		d, err := mcp23017.New(bus, &mcp23017.Opts{Addr: uint16(p.Addr), Clock: hw.clock})
		if err != nil {
			return nil, err
		}
		return expander{d}, nil
	})
	registerBuild("relay", func(hw *hardware, p *PartConfig) (any, error) {
		pin, err := hw.pin(p, p.Pin)
		if err != nil {
			return nil, err
		}
		return relay.New(pin, &relay.Opts{ActiveLow: p.Active == "low", ReadBack: true})
	})
	registerBuild("contact", func(hw *hardware, p *PartConfig) (any, error) {
		pin, err := hw.pin(p, p.Pin)
		if err != nil {
			return nil, err
		}
		o := contact.DefaultOpts()
		o.ActiveLow = p.Active != "high"
		o.Pull = pull(p.Pull)
		o.Clock = hw.clock
		if p.Debounce != 0 {
			o.Debounce = time.Duration(p.Debounce)
		}
		return contact.New(pin, &o)
	})
	registerBuild("bolt", func(hw *hardware, p *PartConfig) (any, error) {
		o := bolt.DefaultOpts()
		o.LimitActiveLow = p.Active != "high"
		o.Clock = hw.clock
		if p.Travel != 0 {
			o.Travel = time.Duration(p.Travel)
		}
		var err error
		for _, l := range []struct {
			name string
			set  func(gpio.PinIO)
		}{
			{p.Pins.Extend, func(x gpio.PinIO) { o.Extend = x }},
			{p.Pins.Retract, func(x gpio.PinIO) { o.Retract = x }},
			{p.Pins.Extended, func(x gpio.PinIO) { o.Extended = x }},
			{p.Pins.Retracted, func(x gpio.PinIO) { o.Retracted = x }},
		} {
			var pin gpio.PinIO
			if pin, err = hw.pin(p, l.name); err != nil {
				return nil, err
			}
			l.set(pin)
		}
		return bolt.New(&o)
	})
	registerBuild("strike", func(hw *hardware, p *PartConfig) (any, error) {
		r, err := hw.part(p.Relay)
		if err != nil {
			return nil, err
		}
		rd, ok := r.(*relay.Dev)
		if !ok {
			return nil, fmt.Errorf("part %q is not a relay", p.Relay)
		}
		return strike.New(rd, &strike.Opts{Pulse: time.Duration(p.Pulse), Clock: hw.clock})
	})
}

// expander adapts the MCP23017 driver to pinSource.
type expander struct{ *mcp23017.Dev }

func (e expander) Pin(n int) (gpio.PinIO, error) { return e.Dev.Pin(n) }

func pull(s string) gpio.Pull {
	switch s {
	case "down":
		return gpio.PullDown
	case "none":
		return gpio.Float
	}
	return gpio.PullUp
}

// busOf names a part's place for messages: "bus 1 at 0x44" or "GPIO17".
func busOf(p *PartConfig) string {
	switch {
	case p.Bus != "":
		return fmt.Sprintf("I2C bus %s at %#02x", p.Bus, p.Addr)
	case p.Expander != "":
		return "pin " + p.Pin + " of " + p.Expander
	case p.Pin != "":
		return p.Pin
	}
	return strings.Join([]string{p.Pins.Extend, p.Pins.Retract, p.Pins.Extended, p.Pins.Retracted}, ",")
}
