package relay

import (
	"errors"
	"fmt"
	"sync"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
)

// ErrReadBack: the line did not read back the level just driven.
var ErrReadBack = errors.New("relay: line does not read back what was driven")

// LevelReader is implemented by lines that can report the level of a line
// they drive, without changing its direction, and say when they could not
// read (gpiosim and mcp23017 lines). Read-back uses it and nothing else:
// periph's gpioioctl lines (the GPIO character device, and bcm283x lines
// without /dev/gpiomem, which delegate to it) turn an output into a
// pulled-up input when Read() is called on it, which would energise an
// active-high relay.
type LevelReader interface {
	ReadLevel() (gpio.Level, error)
}

// Opts configure a relay. The zero value is an active-high relay without
// read-back.
type Opts struct {
	// ActiveLow: the relay is energised by a low level (most
	// opto-isolated boards).
	ActiveLow bool
	// ReadBack: after each write, read the line and fail with ErrReadBack
	// if it disagrees, where the line allows: it must implement
	// LevelReader (MCP23017 and simulated lines do; a Pi's own lines do
	// not), else read-back is skipped. ReadsBack tells which.
	ReadBack bool
}

// Dev is a relay on an output line. It is safe for concurrent use.
type Dev struct {
	pin  gpio.PinOut
	opts Opts
	rb   LevelReader // nil: no read-back (not asked for, or the line cannot)

	mu sync.Mutex
	on bool
}

var _ conn.Resource = (*Dev)(nil)

// New drives pin to the safe level (relay off) at once, then returns the
// relay. With read-back in effect it checks that the line reads back off.
func New(pin gpio.PinIO, opts *Opts) (*Dev, error) {
	if pin == nil {
		return nil, errors.New("relay: no pin")
	}
	d := &Dev{pin: pin}
	if opts != nil {
		d.opts = *opts
	}
	if d.opts.ReadBack {
		d.rb = levelReader(pin)
	}
	if err := d.pin.Out(d.level(false)); err != nil {
		return nil, fmt.Errorf("%s: drive off: %w", d, err)
	}
	if err := d.check(false); err != nil {
		return nil, err
	}
	return d, nil
}

// ReadsBack reports whether writes are read back: Opts.ReadBack was set
// and the line can (see LevelReader).
func (d *Dev) ReadsBack() bool { return d.rb != nil }

// levelReader finds a LevelReader in pin or the pins it wraps.
func levelReader(pin gpio.PinIO) LevelReader {
	for range 8 {
		if r, ok := pin.(LevelReader); ok {
			return r
		}
		rp, ok := pin.(gpio.RealPin)
		if !ok {
			return nil
		}
		pin = rp.Real()
	}
	return nil
}

func (d *Dev) level(on bool) gpio.Level { return gpio.Level(on != d.opts.ActiveLow) }

// check reads the line back, if configured; d.mu is held or d is new.
func (d *Dev) check(on bool) error {
	if d.rb == nil {
		return nil
	}
	want := d.level(on)
	got, err := d.rb.ReadLevel()
	if err != nil {
		return fmt.Errorf("%s: read back: %w", d, err)
	}
	if got != want {
		return fmt.Errorf("%s: drove %s, reads %s: %w", d, want, got, ErrReadBack)
	}
	return nil
}

// Set switches the relay on or off. An error wraps ErrReadBack when the
// line reads back the wrong level. When switching on fails, the line is
// driven back to the safe level (best effort, not read back) and On
// reports false if that write succeeded; when switching off fails, On
// keeps its last value.
func (d *Dev) Set(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.pin.Out(d.level(on))
	if err != nil {
		err = fmt.Errorf("%s: drive %s: %w", d, onOff(on), err)
	} else {
		err = d.check(on)
	}
	if err == nil {
		d.on = on
		return nil
	}
	if on && d.pin.Out(d.level(false)) == nil {
		d.on = false
	}
	return err
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// On reports what was last commanded successfully.
func (d *Dev) On() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.on
}

// Off switches the relay off: Set(false).
func (d *Dev) Off() error { return d.Set(false) }

// Halt implements conn.Resource: the relay off, its safe state.
func (d *Dev) Halt() error { return d.Set(false) }

// String implements conn.Resource. It uses the line's name: some lines'
// String() is a multi-line description.
func (d *Dev) String() string { return "relay(" + d.pin.Name() + ")" }
