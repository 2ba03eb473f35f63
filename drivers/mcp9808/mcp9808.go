package mcp9808

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/drivers/i2cdev"
)

// Register pointers (datasheet 5.1).
const (
	RegConfig         = 0x01
	RegUpper          = 0x02
	RegLower          = 0x03
	RegCrit           = 0x04
	RegAmbient        = 0x05
	RegManufacturerID = 0x06
	RegDeviceID       = 0x07 // device ID in the upper byte, revision in the lower
	RegResolution     = 0x08
)

// Register contents.
const (
	ManufacturerID = 0x0054 // 5.1.4
	DeviceID       = 0x04   // 5.1.5
	ConfigShutdown = 1 << 8 // CONFIG SHDN (5.1.1): conversions stop, T_A holds
)

// The resolutions the chip offers (5.1.6); SixteenthDegree is its
// power-up default.
const (
	HalfDegree      physic.Temperature = 500 * physic.MilliKelvin
	QuarterDegree   physic.Temperature = 250 * physic.MilliKelvin
	EighthDegree    physic.Temperature = 125 * physic.MilliKelvin
	SixteenthDegree physic.Temperature = 62500 * physic.MicroKelvin
)

// resolution returns the resolution register's value for r and the time
// a conversion takes at it (5.2.4: 30, 65, 130 and 250 ms, typical).
func resolution(r physic.Temperature) (code byte, conv time.Duration, ok bool) {
	switch r {
	case HalfDegree:
		return 0, 30 * time.Millisecond, true
	case QuarterDegree:
		return 1, 65 * time.Millisecond, true
	case EighthDegree:
		return 2, 130 * time.Millisecond, true
	case SixteenthDegree:
		return 3, 250 * time.Millisecond, true
	}
	return 0, 0, false
}

// Opts configures a Dev.
type Opts struct {
	Addr       uint16             // 0x18-0x1F, set by pins A2-A0
	Resolution physic.Temperature // HalfDegree, QuarterDegree, EighthDegree or SixteenthDegree
	Clock      clockwork.Clock    // for the waits; nil: the real clock
}

// DefaultOpts returns the options of an MCP9808 at 0x18 with all address
// pins low, at its finest resolution.
func DefaultOpts() Opts {
	return Opts{Addr: 0x18, Resolution: SixteenthDegree}
}

// Dev is an MCP9808 on an I2C bus. It is safe for concurrent use.
type Dev struct {
	bus    i2c.Bus
	addr   uint16
	clock  clockwork.Clock
	name   string
	res    physic.Temperature
	conv   time.Duration // one conversion (typical)
	settle time.Duration // from waking or a resolution change to a fresh T_A

	mu     sync.Mutex
	config uint16    // CONFIG as read at New, SHDN clear
	ready  time.Time // T_A holds a conversion at res from then on
	halted bool
	w      [3]byte
	r      [2]byte

	cont i2cdev.Continuous
}

var _ physic.SenseEnv = (*Dev)(nil)

// New checks opts, then the manufacturer and device IDs (a wrong address
// or chip fails here), takes the chip out of shutdown if a previous user
// left it there and sets its resolution. A nil opts means DefaultOpts.
func New(bus i2c.Bus, opts *Opts) (*Dev, error) {
	if bus == nil {
		return nil, errors.New("MCP9808: nil bus")
	}
	o := DefaultOpts()
	if opts != nil {
		o = *opts
	}
	if o.Addr < 0x18 || o.Addr > 0x1F {
		return nil, fmt.Errorf("MCP9808 on %s: address %#02x: the chip answers only at 0x18-0x1F", bus, o.Addr)
	}
	code, conv, ok := resolution(o.Resolution)
	if !ok {
		return nil, fmt.Errorf("MCP9808 at %#02x on %s: resolution %s: must be 0.5, 0.25, 0.125 or 0.0625 °C", o.Addr, bus, o.Resolution)
	}
	d := &Dev{bus: bus, addr: o.Addr, clock: o.Clock, name: fmt.Sprintf("MCP9808 at %#02x on %s", o.Addr, bus),
		res: o.Resolution, conv: conv,
		// The datasheet gives typical conversion times only: wait a
		// quarter more so the first reading is not the power-up zero.
		settle: conv * 5 / 4}
	if d.clock == nil {
		d.clock = clockwork.NewRealClock()
	}
	id, err := d.read16("read manufacturer id", RegManufacturerID)
	if err != nil {
		return nil, err
	}
	if id != ManufacturerID {
		return nil, fmt.Errorf("read manufacturer id: %s: %#04x, want %#04x: %w", d.name, id, ManufacturerID, i2cdev.ErrChipID)
	}
	if id, err = d.read16("read device id", RegDeviceID); err != nil {
		return nil, err
	}
	if id>>8 != DeviceID {
		return nil, fmt.Errorf("read device id: %s: device %#02x (revision %#02x), want %#02x: %w", d.name, id>>8, id&0xFF, DeviceID, i2cdev.ErrChipID)
	}
	cfg, err := d.read16("read config", RegConfig)
	if err != nil {
		return nil, err
	}
	d.config = cfg &^ ConfigShutdown
	if cfg&ConfigShutdown != 0 {
		if err := d.write16("wake", RegConfig, d.config); err != nil {
			return nil, err
		}
	}
	if err := d.tx("set resolution", []byte{RegResolution, code}, nil); err != nil {
		return nil, err
	}
	d.ready = d.clock.Now().Add(d.settle)
	return d, nil
}

// String implements conn.Resource: "MCP9808 at 0x18 on sim-i2c-1".
func (d *Dev) String() string { return d.name }

// Sense reads the ambient temperature into e.Temperature and leaves the
// other fields alone. The chip converts continuously, so Sense waits only
// after New or Halt, for the first conversion.
func (d *Dev) Sense(e *physic.Env) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted {
		if err := d.write16("wake", RegConfig, d.config); err != nil {
			return err
		}
		d.halted = false
		d.ready = d.clock.Now().Add(d.settle)
	}
	if wait := d.ready.Sub(d.clock.Now()); wait > 0 {
		d.clock.Sleep(wait)
	}
	const op = "read temperature"
	raw, err := d.read16(op, RegAmbient)
	if err != nil {
		return err
	}
	if raw == 0xFFFF {
		// Above the upper limit and below the lower at once: a floating bus.
		return fmt.Errorf("%s: %s: all ones: %w", op, d.name, i2cdev.ErrGarbage)
	}
	t := temperature(raw)
	if t < physic.ZeroCelsius-45*physic.Kelvin || t > physic.ZeroCelsius+130*physic.Kelvin {
		return fmt.Errorf("%s: %s: %#04x is %s, outside the chip's -40 to +125 °C: %w", op, d.name, raw, t, i2cdev.ErrGarbage)
	}
	e.Temperature = t
	return nil
}

// temperature decodes the ambient temperature register (5.1.3): bits
// 15-13 are alert flags; bits 12-0 are the temperature in sixteenths of a
// degree, two's complement with bit 12 the sign, so 0x1FFF is -0.0625 °C
// and 0x1000 is -256 °C.
func temperature(raw uint16) physic.Temperature {
	v := int64(raw & 0x1FFF)
	if v&0x1000 != 0 {
		v -= 0x2000
	}
	return physic.ZeroCelsius + physic.Temperature(v)*SixteenthDegree
}

// SenseContinuous reads every interval until Halt and sends each reading
// on the returned channel. A new call replaces the previous one. The
// channel is closed by Halt, by the next SenseContinuous, or by a failed
// read: Sense then tells why.
func (d *Dev) SenseContinuous(interval time.Duration) (<-chan physic.Env, error) {
	if interval < d.conv {
		return nil, fmt.Errorf("sense continuously: %s: interval %s is shorter than a conversion (%s)", d.name, interval, d.conv)
	}
	return d.cont.Start(d.clock, interval, d.Sense), nil
}

// Precision implements physic.SenseEnv: the configured resolution.
func (d *Dev) Precision(e *physic.Env) {
	e.Temperature = d.res
}

// Halt ends continuous sensing and puts the chip in shutdown (0.1 µA
// instead of 200); the next Sense wakes it.
func (d *Dev) Halt() error {
	d.cont.Stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted {
		return nil
	}
	if err := d.write16("shut down", RegConfig, d.config|ConfigShutdown); err != nil {
		return err
	}
	d.halted = true
	return nil
}

// read16 reads a 16-bit register, most significant byte first, after
// setting the pointer with a repeated START (4.0).
func (d *Dev) read16(op string, reg byte) (uint16, error) {
	d.w[0] = reg
	if err := d.tx(op, d.w[:1], d.r[:]); err != nil {
		return 0, err
	}
	return uint16(d.r[0])<<8 | uint16(d.r[1]), nil
}

func (d *Dev) write16(op string, reg byte, v uint16) error {
	d.w = [3]byte{reg, byte(v >> 8), byte(v)}
	return d.tx(op, d.w[:], nil)
}

func (d *Dev) tx(op string, w, r []byte) error {
	if err := i2cdev.Tx(d.bus, "MCP9808", d.addr, w, r); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}
