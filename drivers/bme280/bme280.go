package bme280

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

// Registers (datasheet 5.3 Table 18).
const (
	RegCalib1   = 0x88 // calib00..calib25: 0x88..0xA1
	RegID       = 0xD0
	RegReset    = 0xE0
	RegCalib2   = 0xE1 // calib26..calib32: 0xE1..0xE7
	RegCtrlHum  = 0xF2
	RegStatus   = 0xF3
	RegCtrlMeas = 0xF4
	RegConfig   = 0xF5
	RegData     = 0xF7 // press_msb..hum_lsb: 0xF7..0xFE
)

// Register contents.
const (
	ChipID          = 0x60   // register id (5.4.1)
	ResetWord       = 0xB6   // written to reset, a power-on reset (5.4.2)
	StatusMeasuring = 1 << 3 // status: a conversion is running (5.4.4)
	StatusIMUpdate  = 1 << 0 // status: NVM data being copied
	ModeSleep       = 0      // ctrl_meas mode[1:0] (5.4.5)
	ModeForced      = 1
	ModeNormal      = 3
	SkippedTP       = 0x80000 // a skipped or never-made temperature or pressure reading (Table 18)
	SkippedH        = 0x8000  // a skipped or never-made humidity reading
)

// StartupTime is the longest the chip takes from reset to answering
// (Table 1, t_startup).
const StartupTime = 2 * time.Millisecond

// Oversampling is how many samples a reading averages: 1, 2, 4, 8 or 16,
// or 0 to skip the quantity (datasheet 3.4.1-3.4.3).
type Oversampling uint8

// code is the osrs_x register field (5.4.3, 5.4.5).
func (o Oversampling) code() (byte, bool) {
	switch o {
	case 0:
		return 0, true
	case 1:
		return 1, true
	case 2:
		return 2, true
	case 4:
		return 3, true
	case 8:
		return 4, true
	case 16:
		return 5, true
	}
	return 0, false
}

// Filter is the IIR filter coefficient applied to temperature and
// pressure: 0 (off), 2, 4, 8 or 16 (datasheet 3.4.4).
type Filter uint8

// code is the config register's filter field (5.4.6).
func (f Filter) code() (byte, bool) {
	switch f {
	case 0:
		return 0, true
	case 2:
		return 1, true
	case 4:
		return 2, true
	case 8:
		return 3, true
	case 16:
		return 4, true
	}
	return 0, false
}

// measurementTime is the longest a forced measurement takes (datasheet
// 9.1): 1.25 ms + 2.3 ms × osrs_t, plus 2.3 ms × osrs_p + 0.575 ms and
// 2.3 ms × osrs_h + 0.575 ms for the quantities measured.
func measurementTime(t, p, h Oversampling) time.Duration {
	us := 1250 + 2300*int(t)
	if p > 0 {
		us += 2300*int(p) + 575
	}
	if h > 0 {
		us += 2300*int(h) + 575
	}
	return time.Duration(us) * time.Microsecond
}

// Calibration is the chip's trimming parameters (datasheet 4.2.2 Table
// 16), read once from its NVM.
type Calibration struct {
	T1                             uint16
	T2, T3                         int16
	P1                             uint16
	P2, P3, P4, P5, P6, P7, P8, P9 int16
	H1                             uint8
	H2                             int16
	H3                             uint8
	H4, H5                         int16 // 12-bit signed
	H6                             int8
}

// ParseCalibration decodes registers 0x88..0xA1 (b1) and 0xE1..0xE7 (b2).
// dig_H4 is 0xE4 (bits 11:4) and 0xE5 bits 3:0; dig_H5 is 0xE5 bits 7:4
// and 0xE6 (bits 11:4); both are signed.
func ParseCalibration(b1 [26]byte, b2 [7]byte) Calibration {
	u := func(i int) uint16 { return uint16(b1[i]) | uint16(b1[i+1])<<8 }
	s := func(i int) int16 { return int16(u(i)) }
	return Calibration{
		T1: u(0), T2: s(2), T3: s(4),
		P1: u(6), P2: s(8), P3: s(10), P4: s(12), P5: s(14), P6: s(16), P7: s(18), P8: s(20), P9: s(22),
		H1: b1[25], // 0xA1; 0xA0 is unused
		H2: int16(uint16(b2[0]) | uint16(b2[1])<<8),
		H3: b2[2],
		H4: int16(int8(b2[3]))<<4 | int16(b2[4]&0x0F),
		H5: int16(int8(b2[5]))<<4 | int16(b2[4]>>4),
		H6: int8(b2[6]),
	}
}

// Bytes encodes c as the chip holds it, the inverse of ParseCalibration
// (H4 and H5 keep their low 12 bits).
func (c *Calibration) Bytes() (b1 [26]byte, b2 [7]byte) {
	put := func(i int, v uint16) { b1[i], b1[i+1] = byte(v), byte(v>>8) }
	put(0, c.T1)
	for i, v := range []int16{c.T2, c.T3} {
		put(2+2*i, uint16(v))
	}
	put(6, c.P1)
	for i, v := range []int16{c.P2, c.P3, c.P4, c.P5, c.P6, c.P7, c.P8, c.P9} {
		put(8+2*i, uint16(v))
	}
	b1[25] = c.H1
	b2[0], b2[1] = byte(c.H2), byte(uint16(c.H2)>>8)
	b2[2] = c.H3
	b2[3] = byte(c.H4 >> 4)
	b2[4] = byte(c.H4&0x0F) | byte(c.H5&0x0F)<<4
	b2[5] = byte(c.H5 >> 4)
	b2[6] = byte(c.H6)
	return b1, b2
}

// CompensateT turns a 20-bit temperature reading into hundredths of a
// degree Celsius, and the fine temperature the other compensations need
// (datasheet 4.2.3, 32-bit integer version).
func (c *Calibration) CompensateT(adcT int32) (t, tFine int32) {
	var1 := ((adcT>>3 - int32(c.T1)<<1) * int32(c.T2)) >> 11
	d := adcT>>4 - int32(c.T1)
	var2 := (((d * d) >> 12) * int32(c.T3)) >> 14
	tFine = var1 + var2
	return (tFine*5 + 128) >> 8, tFine
}

// CompensateP turns a 20-bit pressure reading into pascals in Q24.8 (a
// 256th of a pascal; datasheet 4.2.3, 64-bit integer version). It returns
// 0 where the calibration would divide by zero.
func (c *Calibration) CompensateP(adcP, tFine int32) uint32 {
	var1 := int64(tFine) - 128000
	var2 := var1 * var1 * int64(c.P6)
	var2 += (var1 * int64(c.P5)) << 17
	var2 += int64(c.P4) << 35
	var1 = (var1*var1*int64(c.P3))>>8 + (var1*int64(c.P2))<<12
	var1 = ((int64(1)<<47 + var1) * int64(c.P1)) >> 33
	if var1 == 0 {
		return 0
	}
	p := 1048576 - int64(adcP)
	p = ((p<<31 - var2) * 3125) / var1
	var1 = (int64(c.P9) * (p >> 13) * (p >> 13)) >> 25
	var2 = (int64(c.P8) * p) >> 19
	return uint32((p+var1+var2)>>8 + int64(c.P7)<<4)
}

// CompensateH turns a 16-bit humidity reading into percent relative
// humidity in Q22.10 (a 1024th of a percent; datasheet 4.2.3, 32-bit
// integer version), clamped to 0-100 %.
func (c *Calibration) CompensateH(adcH, tFine int32) uint32 {
	v := c.humidity(adcH, tFine)
	v = min(max(v, 0), humidityFull)
	return uint32(v >> 12)
}

// humidityFull is 100 %RH before CompensateH's final shift.
const humidityFull = 419430400

// humidity is CompensateH before its clamp and shift: a 4194304th of a
// percent, possibly outside 0-100 %.
func (c *Calibration) humidity(adcH, tFine int32) int32 {
	v := tFine - 76800
	x := (adcH<<14 - int32(c.H4)<<20 - int32(c.H5)*v + 16384) >> 15
	y := ((((v*int32(c.H6))>>10)*((v*int32(c.H3))>>11+32768))>>10 + 2097152) * int32(c.H2)
	v = x * ((y + 8192) >> 14)
	return v - ((((v>>15)*(v>>15))>>7)*int32(c.H1))>>4
}

// Opts configures a Dev. DefaultOpts follows the datasheet's weather
// monitoring suggestion (3.5.1): one sample of each, no filter.
type Opts struct {
	Addr        uint16       // 0x76 (SDO low) or 0x77 (SDO high)
	Temperature Oversampling // 1-16: the temperature is needed by the other two
	Pressure    Oversampling // 0 skips pressure
	Humidity    Oversampling // 0 skips humidity
	Filter      Filter
	Clock       clockwork.Clock // for the waits; nil: the real clock
}

// DefaultOpts returns the options of a BME280 at 0x76, weather monitoring.
func DefaultOpts() Opts {
	return Opts{Addr: 0x76, Temperature: 1, Pressure: 1, Humidity: 1}
}

// registers checks o and returns the ctrl_hum, ctrl_meas (sleep mode) and
// config values it means.
func (o *Opts) registers(bus i2c.Bus) (hum, meas, config byte, err error) {
	if o.Addr != 0x76 && o.Addr != 0x77 {
		return 0, 0, 0, fmt.Errorf("BME280 on %s: address %#02x: the chip answers only at 0x76 or 0x77", bus, o.Addr)
	}
	t, okT := o.Temperature.code()
	p, okP := o.Pressure.code()
	h, okH := o.Humidity.code()
	f, okF := o.Filter.code()
	switch {
	case !okT || !okP || !okH:
		err = fmt.Errorf("oversampling %d/%d/%d: each must be 0, 1, 2, 4, 8 or 16", o.Temperature, o.Pressure, o.Humidity)
	case o.Temperature == 0:
		err = errors.New("temperature oversampling 0: pressure and humidity compensation need the temperature")
	case !okF:
		err = fmt.Errorf("filter %d: must be 0, 2, 4, 8 or 16", o.Filter)
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("BME280 at %#02x on %s: %w", o.Addr, bus, err)
	}
	return h, t<<5 | p<<2 | ModeSleep, f << 2, nil
}

// Dev is a BME280 on an I2C bus. It is safe for concurrent use.
type Dev struct {
	bus      i2c.Bus
	addr     uint16
	clock    clockwork.Clock
	name     string
	cal      Calibration
	ctrlMeas byte          // oversampling bits, sleep mode
	wait     time.Duration // the longest measurement
	pressure bool
	humidity bool

	mu sync.Mutex // a measurement's start and readout must not interleave
	w  [2]byte
	r  [8]byte

	cont i2cdev.Continuous
}

var _ physic.SenseEnv = (*Dev)(nil)

// New checks opts, then checks the chip id (a wrong address or chip fails
// here), resets the chip, waits for its NVM copy, reads its calibration
// and configures oversampling and filter. A nil opts means DefaultOpts.
func New(bus i2c.Bus, opts *Opts) (*Dev, error) {
	if bus == nil {
		return nil, errors.New("BME280: nil bus")
	}
	o := DefaultOpts()
	if opts != nil {
		o = *opts
	}
	hum, meas, config, err := o.registers(bus)
	if err != nil {
		return nil, err
	}
	d := &Dev{bus: bus, addr: o.Addr, clock: o.Clock, name: fmt.Sprintf("BME280 at %#02x on %s", o.Addr, bus),
		ctrlMeas: meas, wait: measurementTime(o.Temperature, o.Pressure, o.Humidity),
		pressure: o.Pressure > 0, humidity: o.Humidity > 0}
	if d.clock == nil {
		d.clock = clockwork.NewRealClock()
	}
	if err := d.read("read chip id", RegID, d.r[:1]); err != nil {
		return nil, err
	}
	if id := d.r[0]; id != ChipID {
		hint := ""
		switch id {
		case 0x56, 0x57, 0x58:
			hint = " (a BMP280, which has no humidity sensor)"
		case 0x61:
			hint = " (a BME680)"
		}
		return nil, fmt.Errorf("read chip id: %s: id %#02x%s, want %#02x: %w", d.name, id, hint, ChipID, i2cdev.ErrChipID)
	}
	if err := d.tx("reset", []byte{RegReset, ResetWord}, nil); err != nil {
		return nil, err
	}
	if err := d.waitNVM(); err != nil {
		return nil, err
	}
	var b1 [26]byte
	var b2 [7]byte
	if err := d.read("read calibration", RegCalib1, b1[:]); err != nil {
		return nil, err
	}
	if err := d.read("read calibration", RegCalib2, b2[:]); err != nil {
		return nil, err
	}
	d.cal = ParseCalibration(b1, b2)
	if d.cal.T1 == 0 || d.cal.P1 == 0 || d.cal.T1 == 0xFFFF || d.cal.P1 == 0xFFFF {
		return nil, fmt.Errorf("read calibration: %s: dig_T1 %#04x, dig_P1 %#04x: the NVM reads blank: %w",
			d.name, d.cal.T1, d.cal.P1, i2cdev.ErrGarbage)
	}
	// ctrl_hum before ctrl_meas, which makes it effective (5.4.3); config
	// while in sleep mode, where writes to it are not ignored (5.4.6).
	if err := d.tx("configure", []byte{RegCtrlHum, hum, RegCtrlMeas, meas, RegConfig, config}, nil); err != nil {
		return nil, err
	}
	return d, nil
}

// waitNVM waits out the start-up time after a reset, then until the
// status register says the NVM copy is done.
func (d *Dev) waitNVM() error {
	d.clock.Sleep(StartupTime)
	for try := 0; ; try++ {
		if err := d.read("read status", RegStatus, d.r[:1]); err != nil {
			return err
		}
		if d.r[0]&StatusIMUpdate == 0 {
			return nil
		}
		if try == 4 {
			return fmt.Errorf("reset: %s: status %#02x: the NVM copy has not ended %v after reset: %w",
				d.name, d.r[0], StartupTime+4*time.Millisecond, i2cdev.ErrGarbage)
		}
		d.clock.Sleep(time.Millisecond)
	}
}

// String implements conn.Resource: "BME280 at 0x76 on sim-i2c-1".
func (d *Dev) String() string { return d.name }

// Sense does one forced measurement and fills e.Temperature and, if they
// are measured, e.Pressure and e.Humidity. It blocks for the measurement
// (9.3 ms with DefaultOpts).
func (d *Dev) Sense(e *physic.Env) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.w = [2]byte{RegCtrlMeas, d.ctrlMeas | ModeForced}
	if err := d.tx("start measurement", d.w[:], nil); err != nil {
		return err
	}
	d.clock.Sleep(d.wait)
	const op = "read measurement"
	if err := d.read(op, RegData, d.r[:]); err != nil {
		return err
	}
	r := &d.r
	adcP := int32(r[0])<<12 | int32(r[1])<<4 | int32(r[2])>>4
	adcT := int32(r[3])<<12 | int32(r[4])<<4 | int32(r[5])>>4
	adcH := int32(r[6])<<8 | int32(r[7])
	garbage := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s: %s: %w", op, d.name, fmt.Sprintf(format, a...), i2cdev.ErrGarbage)
	}
	if adcT == SkippedTP {
		return garbage("temperature reads %#x, its reset value: the chip did not measure (was it reset?)", adcT)
	}
	t, tFine := d.cal.CompensateT(adcT)
	if t < -4500 || t > 9000 { // the chip works from -40 to 85 °C; 5 °C of slack
		return garbage("temperature %d.%02d °C is outside what the chip measures", t/100, abs(t%100))
	}
	var p physic.Pressure
	if d.pressure {
		if adcP == SkippedTP {
			return garbage("pressure reads %#x, its reset value: the chip did not measure (was it reset?)", adcP)
		}
		q := d.cal.CompensateP(adcP, tFine)
		if pa := q >> 8; pa < 25000 || pa > 115000 { // the chip works from 300 to 1100 hPa; 50 hPa of slack
			return garbage("pressure %d Pa is outside what the chip measures", pa)
		}
		p = physic.Pressure(q) * (physic.Pascal / 256)
	}
	var h physic.RelativeHumidity
	if d.humidity {
		if adcH == SkippedH {
			return garbage("humidity reads %#x, its reset value: the chip did not measure (was it reset?)", adcH)
		}
		// Beyond the ±3 %RH accuracy outside 0-100 % is not noise.
		if v := d.cal.humidity(adcH, tFine); v < -3*humidityFull/100 || v > 103*humidityFull/100 {
			return garbage("humidity %d %% is outside 0-100 %%", v/(humidityFull/100))
		}
		h = physic.RelativeHumidity((int64(d.cal.CompensateH(adcH, tFine))*int64(physic.PercentRH) + 512) / 1024)
	}
	e.Temperature = physic.ZeroCelsius + physic.Temperature(t)*10*physic.MilliKelvin
	if d.pressure {
		e.Pressure = p
	}
	if d.humidity {
		e.Humidity = h
	}
	return nil
}

func abs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// SenseContinuous measures every interval until Halt and sends each
// reading on the returned channel. A new call replaces the previous one.
// The channel is closed by Halt, by the next SenseContinuous, or by a
// failed measurement: Sense then tells why.
func (d *Dev) SenseContinuous(interval time.Duration) (<-chan physic.Env, error) {
	if interval < d.wait {
		return nil, fmt.Errorf("sense continuously: %s: interval %s is shorter than a measurement (%s)", d.name, interval, d.wait)
	}
	return d.cont.Start(d.clock, interval, d.Sense), nil
}

// Precision implements physic.SenseEnv: the compensated outputs' steps
// (0.01 °C, 1/256 Pa, 1/1024 %RH).
func (d *Dev) Precision(e *physic.Env) {
	e.Temperature = 10 * physic.MilliKelvin
	if d.pressure {
		e.Pressure = physic.Pascal / 256
	}
	if d.humidity {
		e.Humidity = physic.PercentRH / 1024
	}
}

// Halt ends continuous sensing. The chip goes back to sleep by itself
// after each forced measurement.
func (d *Dev) Halt() error {
	d.cont.Stop()
	return nil
}

// read reads registers from reg on, auto-incrementing (6.2.2).
func (d *Dev) read(op string, reg byte, r []byte) error {
	d.w[0] = reg
	return d.tx(op, d.w[:1], r)
}

func (d *Dev) tx(op string, w, r []byte) error {
	if err := i2cdev.Tx(d.bus, "BME280", d.addr, w, r); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}
