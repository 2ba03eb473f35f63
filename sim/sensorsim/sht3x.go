package sensorsim

import (
	"errors"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/drivers/sht3x"
	"github.com/hearth-hub/hearth/sim/i2csim"
)

// sht3xPowerOn is the status register after power-up or a reset
// (SHT3x-DIS datasheet 4.11 Table 18: alert pending and reset detected).
const sht3xPowerOn = sht3x.StatusAlertPending | sht3x.StatusReset

// SHT3x is a simulated SHT3x-DIS in single-shot mode: the single-shot
// commands with and without clock stretching, soft reset, heater on and
// off, status read and clear. Every word it sends carries its CRC-8. It
// refuses (NACK) a read when nothing is pending and, for a command without
// clock stretching, a read or a command before the measurement's maximum
// duration has passed (datasheet 2.2 Table 4); with clock stretching the
// read waits instead, holding the bus. It refuses everything for the
// soft-reset time. Commands it does not model (periodic mode, alert
// limits) set the status register's command-failed bit, as an invalid
// command does on the chip.
type SHT3x struct {
	mu      sync.Mutex
	env     Env
	clock   clockwork.Clock
	status  uint16
	busy    time.Time // soft reset until then
	out     []byte    // what the next read returns; nil: nothing pending
	ready   time.Time // when out can be read
	stretch bool      // the pending measurement stretches the clock
	buf     [6]byte
}

var _ i2csim.Device = (*SHT3x)(nil)

// NewSHT3x returns a powered-up SHT3x measuring env, on the real clock.
func NewSHT3x(env Env) *SHT3x {
	return &SHT3x{env: env, clock: clockwork.NewRealClock(), status: sht3xPowerOn}
}

// SetClock sets the clock that times measurements and resets; give the
// chip the driver's clock.
func (s *SHT3x) SetClock(c clockwork.Clock) {
	s.mu.Lock()
	s.clock = c
	s.mu.Unlock()
}

// SetEnv changes what the chip measures from the next measurement on.
func (s *SHT3x) SetEnv(env Env) {
	s.mu.Lock()
	s.env = env
	s.mu.Unlock()
}

// Status returns the status register as the chip holds it.
func (s *SHT3x) Status() uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Tx implements i2csim.Device.
func (s *SHT3x) Tx(w, r []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if now.Before(s.busy) {
		return errors.New("sht3x: resetting")
	}
	if s.out != nil && !s.stretch && now.Before(s.ready) {
		return errors.New("sht3x: measuring")
	}
	if len(w) > 0 {
		s.command(w, now)
	}
	if len(r) == 0 {
		return nil
	}
	if s.out == nil {
		return errors.New("sht3x: no data pending")
	}
	if now.Before(s.ready) {
		if !s.stretch {
			return errors.New("sht3x: measuring")
		}
		s.clock.Sleep(s.ready.Sub(now)) // SCL held low until the data is there
	}
	n := copy(r, s.out)
	for i := n; i < len(r); i++ {
		r[i] = 0xFF // the chip stops driving SDA; the pull-up reads ones
	}
	s.out = nil
	return nil
}

// command handles a write: a 16-bit command, most significant byte first.
func (s *SHT3x) command(w []byte, now time.Time) {
	if len(w) != 2 {
		s.status |= sht3x.StatusCommandFailed
		return
	}
	cmd := uint16(w[0])<<8 | uint16(w[1])
	ok := true
	switch cmd {
	case sht3x.CmdMeasureHigh, sht3x.CmdMeasureHighStretch:
		s.measure(now, sht3x.High, cmd == sht3x.CmdMeasureHighStretch)
	case sht3x.CmdMeasureMedium, sht3x.CmdMeasureMediumStretch:
		s.measure(now, sht3x.Medium, cmd == sht3x.CmdMeasureMediumStretch)
	case sht3x.CmdMeasureLow, sht3x.CmdMeasureLowStretch:
		s.measure(now, sht3x.Low, cmd == sht3x.CmdMeasureLowStretch)
	case sht3x.CmdSoftReset:
		s.status = sht3xPowerOn
		s.out = nil
		s.busy = now.Add(sht3x.SoftResetTime)
	case sht3x.CmdHeaterOn:
		s.status |= sht3x.StatusHeaterOn
	case sht3x.CmdHeaterOff:
		s.status &^= sht3x.StatusHeaterOn
	case sht3x.CmdClearStatus:
		s.status &^= sht3x.StatusAlertPending | sht3x.StatusRHAlert | sht3x.StatusTAlert | sht3x.StatusReset
	case sht3x.CmdReadStatus:
		s.out = s.word(s.buf[:3], s.status)
		s.ready, s.stretch = now, false
	default:
		ok = false
	}
	if ok {
		s.status &^= sht3x.StatusCommandFailed
	} else {
		s.status |= sht3x.StatusCommandFailed
	}
}

// measure starts a single-shot measurement; its result is what env says
// now, readable after the maximum duration.
func (s *SHT3x) measure(now time.Time, r sht3x.Repeatability, stretch bool) {
	s.word(s.buf[0:3], sht3xRawT(s.env.Temperature()))
	s.word(s.buf[3:6], sht3xRawRH(s.env.Humidity()))
	s.out = s.buf[:6]
	s.ready = now.Add(r.MeasurementDuration())
	s.stretch = stretch
}

// word puts v and its CRC in b (3 bytes) and returns b.
func (s *SHT3x) word(b []byte, v uint16) []byte {
	b[0], b[1] = byte(v>>8), byte(v)
	b[2] = sht3x.CRC8(b[:2])
	return b
}

// sht3xRawT is the chip's 16-bit temperature word (datasheet 4.13,
// inverted): raw = (T + 45 °C) × (2^16 - 1) / 175 °C, rounded, clamped to
// the word's range (-45 to 130 °C).
func sht3xRawT(t physic.Temperature) uint16 {
	const full = 1<<16 - 1
	n := int64(t - physic.ZeroCelsius + 45*physic.Kelvin) // nK above -45 °C
	n = min(max(n, 0), int64(175*physic.Kelvin))
	return uint16((n*full + int64(175*physic.Kelvin)/2) / int64(175*physic.Kelvin))
}

// sht3xRawRH is the chip's 16-bit humidity word: raw = RH × (2^16 - 1) /
// 100 %, rounded, clamped.
func sht3xRawRH(h physic.RelativeHumidity) uint16 {
	const full = 1<<16 - 1
	n := min(max(int64(h), 0), int64(100*physic.PercentRH))
	return uint16((n*full + int64(50*physic.PercentRH)) / int64(100*physic.PercentRH))
}
