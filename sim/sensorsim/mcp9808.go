package sensorsim

import (
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/drivers/mcp9808"
	"github.com/hearth-hub/hearth/sim/i2csim"
)

// MCP9808 is a simulated MCP9808 (datasheet DS25095A). A write's first
// byte is the register pointer (only its bits 3-0 are decoded); the bytes
// after it are written to that register, most significant first; a read
// returns the register the pointer selects (4.0, 5.1). It converts
// continuously: every conversion time of the selected resolution (5.2.4)
// the ambient temperature register takes what env says, quantised to the
// resolution and encoded as 13-bit two's complement, with the alert flags
// of bits 15-13 comparing it with the limit registers (5.1.3). Until the
// first conversion after power-up it reads 0 (its power-on value).
// Shutdown (CONFIG bit 8) stops conversions and T_A holds. The alert
// output, hysteresis and the lock bits are stored but not modelled.
type MCP9808 struct {
	mu    sync.Mutex
	env   Env
	clock clockwork.Clock

	ptr                        byte
	config, upper, lower, crit uint16
	res                        byte      // resolution register, bits 1-0
	ta                         int32     // last conversion, sixteenths of a degree
	converted                  bool      // since power-up
	conv                       time.Time // the conversion in progress started then
}

var _ i2csim.Device = (*MCP9808)(nil)

// NewMCP9808 returns an MCP9808 just powered up, measuring env, on the
// real clock.
func NewMCP9808(env Env) *MCP9808 {
	c := clockwork.NewRealClock()
	return &MCP9808{env: env, clock: c, res: 3, conv: c.Now()}
}

// SetClock sets the clock that times conversions, restarting the one in
// progress; give the chip the driver's clock.
func (s *MCP9808) SetClock(c clockwork.Clock) {
	s.mu.Lock()
	s.clock = c
	s.conv = c.Now()
	s.mu.Unlock()
}

// SetEnv changes what the chip measures from the next conversion on.
func (s *MCP9808) SetEnv(env Env) {
	s.mu.Lock()
	s.env = env
	s.mu.Unlock()
}

// convTime is the conversion time at resolution code r (5.2.4).
func convTime(r byte) time.Duration {
	return [4]time.Duration{30 * time.Millisecond, 65 * time.Millisecond, 130 * time.Millisecond, 250 * time.Millisecond}[r&3]
}

// Tx implements i2csim.Device.
func (s *MCP9808) Tx(w, r []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.update(now)
	if len(w) > 0 {
		s.ptr = w[0] & 0x0F
		if len(w) > 1 {
			s.write(w[1:], now)
		}
	}
	if len(r) == 0 {
		return nil
	}
	var v uint16
	n := 2
	switch s.ptr {
	case mcp9808.RegConfig:
		v = s.config
	case mcp9808.RegUpper:
		v = s.upper
	case mcp9808.RegLower:
		v = s.lower
	case mcp9808.RegCrit:
		v = s.crit
	case mcp9808.RegAmbient:
		v = s.ambient()
	case mcp9808.RegManufacturerID:
		v = mcp9808.ManufacturerID
	case mcp9808.RegDeviceID:
		v = mcp9808.DeviceID << 8 // revision 0
	case mcp9808.RegResolution:
		v, n = uint16(s.res)<<8, 1
	}
	for i := range r {
		r[i] = 0xFF // past the register the chip lets SDA go
		if i < n {
			r[i] = byte(v >> (8 * (1 - i)))
		}
	}
	return nil
}

func (s *MCP9808) write(b []byte, now time.Time) {
	if s.ptr == mcp9808.RegResolution {
		s.res = b[0] & 3
		s.conv = now // a conversion at the new resolution starts
		return
	}
	if len(b) < 2 {
		return // a 16-bit register takes both bytes
	}
	v := uint16(b[0])<<8 | uint16(b[1])
	switch s.ptr {
	case mcp9808.RegConfig:
		if s.config&mcp9808.ConfigShutdown != 0 && v&mcp9808.ConfigShutdown == 0 {
			s.conv = now // awake: conversions start again
		}
		s.config = v & 0x07FF
	case mcp9808.RegUpper:
		s.upper = v & 0x1FFC // 0.25 °C steps, sign in bit 12 (5.1.2)
	case mcp9808.RegLower:
		s.lower = v & 0x1FFC
	case mcp9808.RegCrit:
		s.crit = v & 0x1FFC
	}
}

// update completes the conversions due by now.
func (s *MCP9808) update(now time.Time) {
	if s.config&mcp9808.ConfigShutdown != 0 {
		return
	}
	tc := convTime(s.res)
	if n := now.Sub(s.conv) / tc; n > 0 {
		s.conv = s.conv.Add(n * tc)
		s.ta, s.converted = sixteenths(s.env.Temperature(), s.res), true
	}
}

// sixteenths is t as the ADC gives it: the nearest sixteenth of a degree,
// the bits below the resolution cleared (5.1.3 Register 5-4 note 2),
// clamped to the 13-bit range.
func sixteenths(t physic.Temperature, res byte) int32 {
	n := int64(t - physic.ZeroCelsius)
	step := int64(mcp9808.SixteenthDegree)
	v := n / step
	if r := n % step; 2*r >= step {
		v++
	} else if 2*r < -step {
		v--
	}
	v = min(max(v, -0x1000), 0x0FFF)
	return int32(v) &^ (1<<(3-res) - 1)
}

// ambient is the T_A register: flags, sign and 12 bits (5.1.3).
func (s *MCP9808) ambient() uint16 {
	if !s.converted {
		return 0 // its power-on value, flags included
	}
	v := uint16(s.ta) & 0x1FFF
	if s.ta >= signed13(s.crit) {
		v |= 1 << 15
	}
	if s.ta > signed13(s.upper) {
		v |= 1 << 14
	}
	if s.ta < signed13(s.lower) {
		v |= 1 << 13
	}
	return v
}

// signed13 reads a limit register: 13-bit two's complement in sixteenths.
func signed13(v uint16) int32 {
	x := int32(v & 0x1FFF)
	if x&0x1000 != 0 {
		x -= 0x2000
	}
	return x
}
