package sensorsim

import (
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/drivers/bme280"
	"github.com/hearth-hub/hearth/sim/i2csim"
)

// bme280Cal is the simulated part's calibration: the temperature and
// pressure words of the BMP280 datasheet's worked example (3.12), which
// the BME280 shares, and humidity words typical of parts in the field.
var bme280Cal = bme280.Calibration{
	T1: 27504, T2: 26435, T3: -1000,
	P1: 36477, P2: -10685, P3: 3024, P4: 2855, P5: 140, P6: -7, P7: 15500, P8: -14600, P9: 6000,
	H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30,
}

// bme280Reset is the data registers' reset state (datasheet 5.3 Table 18).
var bme280Reset = [8]byte{0x80, 0, 0, 0x80, 0, 0, 0x80, 0}

// BME280 is a simulated BME280 on I2C: the register map (id, reset,
// calibration NVM, ctrl_hum, status, ctrl_meas, config, data), register
// pointer and auto-increment on reads, register/value pairs on writes.
// A ctrl_meas write in forced mode starts a conversion that lasts the
// datasheet's maximum time (9.1), with status bit 3 set meanwhile; until
// it ends the data registers keep the previous result, as the chip's
// shadowing does. The readings are the raw values whose compensation,
// with the part's calibration, gives what env says: the compensation is
// monotonic, so the sim searches for them. Oversampling sets the
// resolution when the filter is off (3.4.1-3.4.3), the IIR filter (3.4.4)
// smooths temperature and pressure, and a skipped quantity reads its
// reset value. ctrl_hum takes effect at the next ctrl_meas write; config
// writes are ignored in normal mode (5.4.3, 5.4.6). Normal mode cycles
// with the standby time of config.
type BME280 struct {
	mu     sync.Mutex
	env    Env
	clock  clockwork.Clock
	cal    bme280.Calibration
	calib1 [26]byte
	calib2 [7]byte

	ptr                       byte
	ctrlHum, ctrlMeas, config byte
	osrsH                     byte      // ctrl_hum as the last ctrl_meas write latched it
	nvmEnd                    time.Time // NVM copy after a reset: status im_update
	measuring                 bool      // a conversion is due
	measStart, measEnd        time.Time // it runs then
	next                      [8]byte   // its result
	data                      [8]byte   // 0xF7..0xFE
	filtT, filtP              iir
}

// iir is the memory of the IIR filter for one quantity (datasheet 3.4.4).
type iir struct {
	v  int32
	ok bool // holds a value: the first conversion fills it
}

// apply gives the filtered value: (old × (c − 1) + new) / c.
func (f *iir) apply(adc, coef int32) int32 {
	if !f.ok {
		f.v, f.ok = adc, true
	}
	f.v = (f.v*(coef-1) + adc) / coef
	return f.v
}

var _ i2csim.Device = (*BME280)(nil)

// NewBME280 returns a powered-up BME280 measuring env, on the real clock.
func NewBME280(env Env) *BME280 {
	s := &BME280{env: env, clock: clockwork.NewRealClock(), cal: bme280Cal, data: bme280Reset}
	s.calib1, s.calib2 = s.cal.Bytes()
	return s
}

// SetClock sets the clock that times conversions and resets; give the
// chip the driver's clock.
func (s *BME280) SetClock(c clockwork.Clock) {
	s.mu.Lock()
	s.clock = c
	s.mu.Unlock()
}

// SetEnv changes what the chip measures from the next conversion on.
func (s *BME280) SetEnv(env Env) {
	s.mu.Lock()
	s.env = env
	s.mu.Unlock()
}

// Tx implements i2csim.Device.
func (s *BME280) Tx(w, r []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.advance(now)
	switch {
	case len(w) == 1:
		s.ptr = w[0]
	case len(w) > 1:
		for i := 0; i+1 < len(w); i += 2 {
			s.write(w[i], w[i+1], now)
		}
		if len(w)%2 == 1 {
			s.ptr = w[len(w)-1]
		}
	}
	for i := range r {
		r[i] = s.reg(s.ptr, now)
		s.ptr++
	}
	return nil
}

func (s *BME280) reg(a byte, now time.Time) byte {
	switch {
	case a >= bme280.RegCalib1 && a < bme280.RegCalib1+26:
		return s.calib1[a-bme280.RegCalib1]
	case a >= bme280.RegCalib2 && a < bme280.RegCalib2+7:
		return s.calib2[a-bme280.RegCalib2]
	case a >= bme280.RegData && a < bme280.RegData+8:
		return s.data[a-bme280.RegData]
	}
	switch a {
	case bme280.RegID:
		return bme280.ChipID
	case bme280.RegCtrlHum:
		return s.ctrlHum
	case bme280.RegCtrlMeas:
		return s.ctrlMeas
	case bme280.RegConfig:
		return s.config
	case bme280.RegStatus:
		var st byte
		if s.measuring && !now.Before(s.measStart) {
			st |= bme280.StatusMeasuring
		}
		if now.Before(s.nvmEnd) {
			st |= bme280.StatusIMUpdate
		}
		return st
	}
	return 0 // reset reads 0x00; reserved registers
}

func (s *BME280) write(a, v byte, now time.Time) {
	switch a {
	case bme280.RegReset:
		if v == bme280.ResetWord {
			s.ptr, s.ctrlHum, s.ctrlMeas, s.config, s.osrsH = 0, 0, 0, 0, 0
			s.measuring, s.data, s.filtT, s.filtP = false, bme280Reset, iir{}, iir{}
			s.nvmEnd = now.Add(bme280.StartupTime)
		}
	case bme280.RegCtrlHum:
		s.ctrlHum = v & 0x07
	case bme280.RegConfig:
		if s.ctrlMeas&3 != bme280.ModeNormal {
			s.config = v
		}
	case bme280.RegCtrlMeas:
		s.ctrlMeas = v
		s.osrsH = s.ctrlHum
		if v&3 == bme280.ModeSleep {
			s.measuring = false
		} else {
			s.start(now)
		}
	}
}

// samples decodes an osrs_x field (5.4.3, 5.4.5).
func samples(code byte) int {
	switch code & 7 {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return 2
	case 3:
		return 4
	case 4:
		return 8
	}
	return 16
}

// start begins, at time at, a conversion of what env says now.
func (s *BME280) start(at time.Time) {
	t, p, h := samples(s.ctrlMeas>>5), samples(s.ctrlMeas>>2), samples(s.osrsH)
	us := 1250 + 2300*t // datasheet 9.1, maximum
	if p > 0 {
		us += 2300*p + 575
	}
	if h > 0 {
		us += 2300*h + 575
	}
	s.measuring = true
	s.measStart, s.measEnd = at, at.Add(time.Duration(us)*time.Microsecond)

	// Temperature first: the chip compensates pressure and humidity with
	// the fine temperature of the reading it outputs, filtered or not.
	exact := s.rawT(s.env.Temperature())
	adcT := exact
	f := (s.config >> 2) & 7 // filter coefficient 2, 4, 8, 16 (5.4.6); 20-bit output
	coef := int32(1) << min(f, 4)
	if f == 0 {
		s.filtT, s.filtP = iir{}, iir{}
	}
	switch {
	case t == 0:
		adcT, s.filtT = bme280.SkippedTP, iir{}
	case f > 0:
		adcT = s.filtT.apply(adcT, coef)
	default:
		adcT = atResolution(adcT, t)
	}
	_, tFine := s.cal.CompensateT(adcT)
	if t == 0 {
		_, tFine = s.cal.CompensateT(exact)
	}
	adcP := s.rawP(s.env.Pressure(), tFine)
	switch {
	case p == 0:
		adcP, s.filtP = bme280.SkippedTP, iir{}
	case f > 0:
		adcP = s.filtP.apply(adcP, coef)
	default:
		adcP = atResolution(adcP, p)
	}
	adcH := s.rawH(s.env.Humidity(), tFine)
	if h == 0 {
		adcH = bme280.SkippedH
	}
	s.next = [8]byte{byte(adcP >> 12), byte(adcP >> 4), byte(adcP << 4), byte(adcT >> 12), byte(adcT >> 4), byte(adcT << 4),
		byte(adcH >> 8), byte(adcH)}
}

// atResolution rounds a 20-bit reading to what n samples resolve without
// the filter: 16 bits at ×1 to 20 at ×16 (3.4.1, 3.4.2).
func atResolution(adc int32, n int) int32 {
	var drop uint
	switch n {
	case 1:
		drop = 4
	case 2:
		drop = 3
	case 4:
		drop = 2
	case 8:
		drop = 1
	default:
		return adc
	}
	step := int32(1) << drop
	return min((adc+step/2)&^(step-1), 1<<20-step)
}

// advance ends the running conversion if its time has come, publishing
// its result; in normal mode the next one starts after the standby time.
func (s *BME280) advance(now time.Time) {
	if !s.measuring || now.Before(s.measEnd) {
		return
	}
	s.data = s.next
	s.measuring = false
	if s.ctrlMeas&3 != bme280.ModeNormal {
		s.ctrlMeas &^= 3 // forced mode falls back to sleep
		return
	}
	standby := [8]time.Duration{500 * time.Microsecond, 62500 * time.Microsecond, 125 * time.Millisecond,
		250 * time.Millisecond, 500 * time.Millisecond, time.Second, 10 * time.Millisecond, 20 * time.Millisecond}[s.config>>5]
	at := s.measEnd.Add(standby)
	if at.After(now) {
		s.start(at)
		return
	}
	s.start(now) // readings missed while nobody looked are not kept
}

// rawT is the 20-bit reading whose fine temperature is nearest t.
func (s *BME280) rawT(t physic.Temperature) int32 {
	// T = t_fine / 5120 °C.
	want := int64(t-physic.ZeroCelsius) * 5120 / int64(physic.Kelvin)
	return search(0, 1<<20-1, want, true, func(x int32) int64 { _, f := s.cal.CompensateT(x); return int64(f) })
}

// rawP is the 20-bit reading whose compensated pressure is nearest p.
func (s *BME280) rawP(p physic.Pressure, tFine int32) int32 {
	want := int64(p) / (int64(physic.Pascal) / 256)
	// Near full scale the result goes below zero, which the datasheet's
	// unsigned return wraps; read it signed to keep it monotonic.
	return search(0, 1<<20-1, want, false, func(x int32) int64 { return int64(int32(s.cal.CompensateP(x, tFine))) })
}

// rawH is the 16-bit reading whose compensated humidity is nearest h.
func (s *BME280) rawH(h physic.RelativeHumidity, tFine int32) int32 {
	want := int64(h) * 1024 / int64(physic.PercentRH)
	return search(0, 1<<16-1, want, true, func(x int32) int64 { return int64(s.cal.CompensateH(x, tFine)) })
}

// search returns the x in [lo, hi] whose f(x) is nearest want, f rising
// or falling monotonically.
func search(lo, hi int32, want int64, rising bool, f func(int32) int64) int32 {
	a, b := lo, hi
	for a < b {
		m := a + (b-a)/2
		if v := f(m); (rising && v < want) || (!rising && v > want) {
			a = m + 1
		} else {
			b = m
		}
	}
	if a > lo && dist(f(a-1), want) < dist(f(a), want) {
		return a - 1
	}
	return a
}

func dist(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}
