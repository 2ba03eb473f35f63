package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
)

// backend is where buses and lines come from: the simulated house or the
// board's own, through periph.
type backend interface {
	I2C(name string) (i2c.Bus, error)
	Pin(name string) (gpio.PinIO, error)
	// Run keeps the backend going until ctx ends (the simulated house's
	// physics); it returns at once for real hardware.
	Run(ctx context.Context)
	Close() error
}

// halter is a part that has a safe state to go to on the way out.
type halter interface{ Halt() error }

// pinSource is a part whose lines other parts use: an expander.
type pinSource interface {
	Pin(n int) (gpio.PinIO, error)
}

// hardware builds the configured parts on a backend, each once, in the
// order their dependencies need.
type hardware struct {
	be    backend
	clock clockwork.Clock
	log   *slog.Logger

	parts    map[string]*PartConfig
	built    map[string]any
	building map[string]bool
	order    []string // built parts, in build order
}

func newHardware(cfg HardwareConfig, be backend, clock clockwork.Clock, log *slog.Logger) *hardware {
	hw := &hardware{be: be, clock: clock, log: log, parts: map[string]*PartConfig{}, built: map[string]any{}, building: map[string]bool{}}
	for i := range cfg.Parts {
		hw.parts[cfg.Parts[i].Name] = &cfg.Parts[i]
	}
	return hw
}

// part returns the built part, building it (and what it needs) first.
func (hw *hardware) part(name string) (any, error) {
	if d, ok := hw.built[name]; ok {
		return d, nil
	}
	p, ok := hw.parts[name]
	if !ok {
		return nil, fmt.Errorf("no part named %q", name)
	}
	if hw.building[name] {
		return nil, fmt.Errorf("part %q depends on itself", name)
	}
	hw.building[name] = true
	defer delete(hw.building, name)
	def, ok := drivers[p.Driver]
	if !ok || def.build == nil {
		return nil, fmt.Errorf("part %q: driver %q cannot be built", name, p.Driver)
	}
	d, err := def.build(hw, p)
	if err != nil {
		what := p.Driver + " on " + busOf(p)
		if p.Entity != "" {
			what += ", entity " + p.Entity
		}
		return nil, fmt.Errorf("part %q (%s): %w", name, what, err)
	}
	hw.built[name] = d
	hw.order = append(hw.order, name)
	return d, nil
}

// buildAll builds every part; the first failure stops start-up.
func (hw *hardware) buildAll(parts []PartConfig) error {
	for i := range parts {
		if _, err := hw.part(parts[i].Name); err != nil {
			return err
		}
	}
	return nil
}

// pin returns a line of the board, or of the part's expander.
func (hw *hardware) pin(p *PartConfig, name string) (gpio.PinIO, error) {
	if p.Expander == "" {
		return hw.be.Pin(name)
	}
	x, err := hw.part(p.Expander)
	if err != nil {
		return nil, err
	}
	src, ok := x.(pinSource)
	if !ok {
		return nil, fmt.Errorf("part %q has no pins", p.Expander)
	}
	n, err := strconv.Atoi(name)
	if err != nil {
		return nil, fmt.Errorf("pin %q on expander %q: %w", name, p.Expander, err)
	}
	return src.Pin(n)
}

// halt puts every part that has one in its safe state, the last built
// first (a strike before its relay), and keeps going past errors.
func (hw *hardware) halt() error {
	var errs []error
	for i := len(hw.order) - 1; i >= 0; i-- {
		if h, ok := hw.built[hw.order[i]].(halter); ok {
			if err := h.Halt(); err != nil {
				errs = append(errs, fmt.Errorf("halt %s: %w", hw.order[i], err))
			}
		}
	}
	return errors.Join(errs...)
}
