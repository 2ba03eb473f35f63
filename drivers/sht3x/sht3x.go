package sht3x

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

// Commands, each sent as two bytes, most significant first (datasheet 4.3
// Table 9, 4.9, 4.10, 4.11 Tables 17 and 19).
const (
	CmdMeasureHigh          uint16 = 0x2400 // single shot, high repeatability, no clock stretching
	CmdMeasureMedium        uint16 = 0x240B // single shot, medium repeatability, no clock stretching
	CmdMeasureLow           uint16 = 0x2416 // single shot, low repeatability, no clock stretching
	CmdMeasureHighStretch   uint16 = 0x2C06 // single shot, high repeatability, clock stretching
	CmdMeasureMediumStretch uint16 = 0x2C0D // single shot, medium repeatability, clock stretching
	CmdMeasureLowStretch    uint16 = 0x2C10 // single shot, low repeatability, clock stretching
	CmdSoftReset            uint16 = 0x30A2
	CmdHeaterOn             uint16 = 0x306D
	CmdHeaterOff            uint16 = 0x3066
	CmdReadStatus           uint16 = 0xF32D
	CmdClearStatus          uint16 = 0x3041
)

// Status register bits (datasheet 4.11 Table 18).
const (
	StatusAlertPending   uint16 = 1 << 15
	StatusHeaterOn       uint16 = 1 << 13
	StatusRHAlert        uint16 = 1 << 11
	StatusTAlert         uint16 = 1 << 10
	StatusReset          uint16 = 1 << 4 // a reset happened since the last clear status
	StatusCommandFailed  uint16 = 1 << 1 // the last command was invalid or failed its checksum
	StatusWriteCRCFailed uint16 = 1 << 0
)

// SoftResetTime is the longest a soft reset takes (Table 4, tSR); the chip
// does not answer meanwhile.
const SoftResetTime = 1500 * time.Microsecond

// Repeatability trades measurement time and energy for noise (datasheet
// section 2.2). The zero value is High.
type Repeatability uint8

// The repeatabilities.
const (
	High Repeatability = iota
	Medium
	Low
)

func (r Repeatability) String() string {
	switch r {
	case High:
		return "high"
	case Medium:
		return "medium"
	case Low:
		return "low"
	}
	return fmt.Sprintf("Repeatability(%d)", uint8(r))
}

// MeasurementDuration is the longest a single-shot measurement takes at
// repeatability r (Table 4: 15, 6 and 4 ms), 0 for an unknown r.
func (r Repeatability) MeasurementDuration() time.Duration {
	switch r {
	case High:
		return 15 * time.Millisecond
	case Medium:
		return 6 * time.Millisecond
	case Low:
		return 4 * time.Millisecond
	}
	return 0
}

// command is the single-shot command without clock stretching: the driver
// waits on its clock instead of holding the bus.
func (r Repeatability) command() uint16 {
	switch r {
	case Medium:
		return CmdMeasureMedium
	case Low:
		return CmdMeasureLow
	}
	return CmdMeasureHigh
}

// CRC8 is the checksum that follows every 16-bit word the chip sends or
// receives (datasheet 4.12 Table 20: polynomial 0x31, initial value 0xFF,
// no reflection, no final XOR; CRC8([]byte{0xBE, 0xEF}) is 0x92).
func CRC8(b []byte) byte {
	crc := byte(0xFF)
	for _, x := range b {
		crc ^= x
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x31
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// Opts configures a Dev.
type Opts struct {
	Addr          uint16 // 0x44 (ADDR pin low) or 0x45 (ADDR pin high)
	Repeatability Repeatability
	Clock         clockwork.Clock // for the waits; nil: the real clock
}

// DefaultOpts returns the options of an SHT3x at 0x44 measuring at high
// repeatability.
func DefaultOpts() Opts {
	return Opts{Addr: 0x44, Repeatability: High}
}

func (o *Opts) validate(bus i2c.Bus) error {
	if o.Addr != 0x44 && o.Addr != 0x45 {
		return fmt.Errorf("SHT3x on %s: address %#02x: the chip answers only at 0x44 or 0x45", bus, o.Addr)
	}
	if o.Repeatability > Low {
		return fmt.Errorf("SHT3x at %#02x on %s: unknown repeatability %d", o.Addr, bus, o.Repeatability)
	}
	return nil
}

// Dev is an SHT3x on an I2C bus. It is safe for concurrent use.
type Dev struct {
	bus   i2c.Bus
	addr  uint16
	rep   Repeatability
	clock clockwork.Clock
	name  string

	mu sync.Mutex // a command and the read that answers it must not interleave
	w  [2]byte
	r  [6]byte

	cont i2cdev.Continuous
}

var _ physic.SenseEnv = (*Dev)(nil)

// New checks opts, then resets the chip, reads its status register (a
// wrong address fails here) and turns its heater off. A nil opts means
// DefaultOpts.
func New(bus i2c.Bus, opts *Opts) (*Dev, error) {
	if bus == nil {
		return nil, errors.New("SHT3x: nil bus")
	}
	o := DefaultOpts()
	if opts != nil {
		o = *opts
	}
	if err := o.validate(bus); err != nil {
		return nil, err
	}
	d := &Dev{bus: bus, addr: o.Addr, rep: o.Repeatability, clock: o.Clock,
		name: fmt.Sprintf("SHT3x at %#02x on %s", o.Addr, bus)}
	if d.clock == nil {
		d.clock = clockwork.NewRealClock()
	}
	if err := d.command("soft reset", CmdSoftReset); err != nil {
		return nil, err
	}
	d.clock.Sleep(SoftResetTime)
	if err := d.command("read status", CmdReadStatus); err != nil {
		return nil, err
	}
	if err := d.tx("read status", nil, d.r[:3]); err != nil {
		return nil, err
	}
	if _, err := d.word("read status", "status", d.r[:3]); err != nil {
		return nil, err
	}
	if err := d.command("heater off", CmdHeaterOff); err != nil {
		return nil, err
	}
	return d, nil
}

// String implements conn.Resource: "SHT3x at 0x44 on sim-i2c-1".
func (d *Dev) String() string { return d.name }

// Sense does one single-shot measurement and fills e.Temperature and
// e.Humidity. It blocks for the measurement (up to 15 ms).
func (d *Dev) Sense(e *physic.Env) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.command("start measurement", d.rep.command()); err != nil {
		return err
	}
	d.clock.Sleep(d.rep.MeasurementDuration())
	const op = "read measurement"
	if err := d.tx(op, nil, d.r[:]); err != nil {
		return err
	}
	t, err := d.word(op, "temperature", d.r[0:3])
	if err != nil {
		return err
	}
	h, err := d.word(op, "humidity", d.r[3:6])
	if err != nil {
		return err
	}
	if t == 0xFFFF && h == 0xFFFF {
		// 130 °C at 100 %RH, each with a good checksum: not a reading.
		return fmt.Errorf("%s: %s: all-ones words: %w", op, d.name, i2cdev.ErrGarbage)
	}
	e.Temperature = temperature(t)
	e.Humidity = humidity(h)
	return nil
}

// SenseContinuous measures every interval until Halt and sends each
// reading on the returned channel. A new call replaces the previous one.
// The channel is closed by Halt, by the next SenseContinuous, or by a
// failed measurement: Sense then tells why.
func (d *Dev) SenseContinuous(interval time.Duration) (<-chan physic.Env, error) {
	if least := d.rep.MeasurementDuration(); interval < least {
		return nil, fmt.Errorf("sense continuously: %s: interval %s is shorter than a measurement (%s)", d.name, interval, least)
	}
	return d.cont.Start(d.clock, interval, d.Sense), nil
}

// Precision implements physic.SenseEnv: one step of the 16-bit words.
func (d *Dev) Precision(e *physic.Env) {
	e.Temperature = temperature(1) - temperature(0)
	e.Humidity = humidity(1)
}

// Halt ends continuous sensing. The chip itself idles between single-shot
// measurements, so there is nothing to stop there.
func (d *Dev) Halt() error {
	d.cont.Stop()
	return nil
}

// command sends a two-byte command.
func (d *Dev) command(op string, cmd uint16) error {
	d.w = [2]byte{byte(cmd >> 8), byte(cmd)}
	return d.tx(op, d.w[:], nil)
}

func (d *Dev) tx(op string, w, r []byte) error {
	if err := i2cdev.Tx(d.bus, "SHT3x", d.addr, w, r); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// word checks the checksum of a 16-bit word and its CRC byte, b[:3].
func (d *Dev) word(op, what string, b []byte) (uint16, error) {
	if c := CRC8(b[:2]); c != b[2] {
		return 0, fmt.Errorf("%s: %s: %s word %#02x%02x: checksum %#02x, computed %#02x: %w",
			op, d.name, what, b[0], b[1], b[2], c, i2cdev.ErrCRC)
	}
	return uint16(b[0])<<8 | uint16(b[1]), nil
}

// temperature converts a raw word (datasheet 4.13): T = -45 °C + 175 °C ×
// raw / (2^16 - 1), rounded to the nanokelvin.
func temperature(raw uint16) physic.Temperature {
	const full = 1<<16 - 1
	nano := (175_000_000_000*int64(raw) + full/2) / full
	return physic.ZeroCelsius - 45*physic.Kelvin + physic.Temperature(nano)
}

// humidity converts a raw word (datasheet 4.13): RH = 100 % × raw / (2^16 - 1).
func humidity(raw uint16) physic.RelativeHumidity {
	const full = 1<<16 - 1
	return physic.RelativeHumidity((int64(100*physic.PercentRH)*int64(raw) + full/2) / full)
}
