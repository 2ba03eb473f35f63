package sensorsim_test

import (
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/drivers/bme280"
	"github.com/hearth-hub/hearth/drivers/i2cdev"
	"github.com/hearth-hub/hearth/sim/i2csim"
	"github.com/hearth-hub/hearth/sim/sensorsim"
)

func TestBME280_driver(t *testing.T) {
	x16 := bme280.Opts{Addr: 0x77, Temperature: 16, Pressure: 16, Humidity: 16}
	for _, tc := range []struct {
		name string
		env  sensorsim.Fixed
		opts bme280.Opts
		tolP physic.Pressure // one step of the reading: 2.62 Pa at ×1, 0.16 Pa at ×16 (3.4.1)
	}{
		{"21.37C", sensorsim.Fixed{T: celsius(21370), H: 45 * physic.PercentRH, P: 101325 * physic.Pascal},
			bme280.DefaultOpts(), 262 * physic.Pascal / 100},
		{"21.37Cx16", sensorsim.Fixed{T: celsius(21370), H: 45 * physic.PercentRH, P: 101325 * physic.Pascal},
			x16, 16 * physic.Pascal / 100},
		{"minus12.5C", sensorsim.Fixed{T: celsius(-12500), H: 80 * physic.PercentRH, P: 95000 * physic.Pascal},
			bme280.DefaultOpts(), 262 * physic.Pascal / 100},
		{"minus12.5Cx16", sensorsim.Fixed{T: celsius(-12500), H: 80 * physic.PercentRH, P: 95000 * physic.Pascal},
			x16, 16 * physic.Pascal / 100},
		{"dryHigh", sensorsim.Fixed{T: celsius(40000), H: 5 * physic.PercentRH, P: 70000 * physic.Pascal},
			bme280.DefaultOpts(), 262 * physic.Pascal / 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bus, clk := newBus(t, tc.opts.Addr, sensorsim.NewBME280(tc.env))
			tc.opts.Clock = clk
			d, err := bme280.New(bus, &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var e physic.Env
			if err := d.Sense(&e); err != nil {
				t.Fatal(err)
			}
			if !near(e.Temperature, tc.env.T, 10*physic.MilliKelvin) {
				t.Errorf("temperature %v, want %v ± 0.01 °C", e.Temperature, tc.env.T)
			}
			if !near(e.Pressure, tc.env.P, tc.tolP) {
				t.Errorf("pressure %v, want %v ± %v", e.Pressure, tc.env.P, tc.tolP)
			}
			if !near(e.Humidity, tc.env.H, physic.PercentRH/100) {
				t.Errorf("humidity %v, want %v ± 0.01 %%RH", e.Humidity, tc.env.H)
			}
		})
	}
}

// TestBME280_filter shows the IIR filter (datasheet 3.4.4) smoothing a
// step: with coefficient 4 each reading moves a quarter of the way.
func TestBME280_filter(t *testing.T) {
	chip := sensorsim.NewBME280(sensorsim.Fixed{T: celsius(20000), H: 50 * physic.PercentRH, P: 100000 * physic.Pascal})
	bus, clk := newBus(t, 0x76, chip)
	o := bme280.DefaultOpts()
	o.Filter, o.Clock = 4, clk
	d, err := bme280.New(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	var e physic.Env
	if err := d.Sense(&e); err != nil || !near(e.Temperature, celsius(20000), 10*physic.MilliKelvin) {
		t.Fatalf("first reading %v, %v: the filter starts from it", e.Temperature, err)
	}
	chip.SetEnv(sensorsim.Fixed{T: celsius(30000), H: 50 * physic.PercentRH, P: 100000 * physic.Pascal})
	for i, want := range []int64{22500, 24375, 25781} {
		if err := d.Sense(&e); err != nil {
			t.Fatal(err)
		}
		// The filter works on the raw readings, so a little off linear.
		if !near(e.Temperature, celsius(want), 100*physic.MilliKelvin) {
			t.Fatalf("reading %d after the step: %v, want about %v", i+1, e.Temperature, celsius(want))
		}
	}
}

func TestBME280_faults(t *testing.T) {
	env := sensorsim.Fixed{T: celsius(21370), H: 45 * physic.PercentRH, P: 101325 * physic.Pascal}
	bus, clk := newBus(t, 0x76, sensorsim.NewBME280(env))
	o := bme280.DefaultOpts()
	o.Clock = clk
	d, err := bme280.New(bus, &o)
	if err != nil {
		t.Fatal(err)
	}
	bus.SetFault(0x76, i2csim.Fault{NACK: 1})
	if err := d.Sense(&physic.Env{}); !errors.Is(err, i2cdev.ErrNACK) {
		t.Fatalf("Sense() with a NACK=%v, want ErrNACK", err)
	}
	if err := d.Sense(&physic.Env{}); err != nil {
		t.Fatalf("Sense() after the NACK=%v", err)
	}

	// An MCP9808 where the BME280 should be: its register 0x0 (the
	// pointer's low bits of 0xD0) reads 0, not 0x60.
	mcp := sensorsim.NewMCP9808(env)
	mcp.SetClock(clk)
	if err := bus.Attach(0x77, mcp); err != nil {
		t.Fatal(err)
	}
	o.Addr = 0x77
	if _, err := bme280.New(bus, &o); !errors.Is(err, i2cdev.ErrChipID) {
		t.Fatalf("New() on an MCP9808=%v, want ErrChipID", err)
	}
}

func TestBME280_registers(t *testing.T) {
	chip := sensorsim.NewBME280(sensorsim.Fixed{T: celsius(21370), H: 45 * physic.PercentRH, P: 101325 * physic.Pascal})
	bus, clk := newBus(t, 0x76, chip)
	reg := func(a byte) byte { return tx(t, bus, 0x76, []byte{a}, 1)[0] }
	data := func() []byte { return tx(t, bus, 0x76, []byte{bme280.RegData}, 8) }

	if got := reg(bme280.RegID); got != bme280.ChipID {
		t.Fatalf("id %#02x", got)
	}
	c := bme280.ParseCalibration([26]byte(tx(t, bus, 0x76, []byte{bme280.RegCalib1}, 26)), [7]byte(tx(t, bus, 0x76, []byte{bme280.RegCalib2}, 7)))
	if c.T1 != 27504 || c.P1 != 36477 || c.H4 != 313 || c.H5 != 50 {
		t.Fatalf("calibration %+v", c)
	}

	tx(t, bus, 0x76, []byte{bme280.RegReset, bme280.ResetWord}, 0)
	if got := reg(bme280.RegStatus); got != bme280.StatusIMUpdate {
		t.Fatalf("status %#02x just after reset, want im_update", got)
	}
	clk.Advance(bme280.StartupTime)
	if got := reg(bme280.RegStatus); got != 0 {
		t.Fatalf("status %#02x after the start-up time", got)
	}
	reset := []byte{0x80, 0, 0, 0x80, 0, 0, 0x80, 0} // Table 18
	if got := data(); string(got) != string(reset) {
		t.Fatalf("data after reset % x, want % x", got, reset)
	}

	// A forced measurement: status bit 3 and the old data until 9.3 ms.
	tx(t, bus, 0x76, []byte{bme280.RegCtrlHum, 0x01, bme280.RegCtrlMeas, 0x25}, 0)
	clk.Advance(9300*time.Microsecond - time.Microsecond)
	if got := reg(bme280.RegStatus); got != bme280.StatusMeasuring {
		t.Fatalf("status %#02x during the measurement", got)
	}
	if got := reg(bme280.RegCtrlMeas); got != 0x25 {
		t.Fatalf("ctrl_meas %#02x during the measurement, want forced mode", got)
	}
	if got := data(); string(got) != string(reset) {
		t.Fatalf("data during the measurement % x, want the old % x", got, reset)
	}
	clk.Advance(time.Microsecond)
	if got := reg(bme280.RegStatus); got != 0 {
		t.Fatalf("status %#02x after the measurement", got)
	}
	if got := reg(bme280.RegCtrlMeas); got != 0x24 {
		t.Fatalf("ctrl_meas %#02x after the measurement, want sleep mode", got)
	}
	if got := data(); got[6] == 0x80 && got[7] == 0 || got[0] == 0x80 && got[1] == 0 {
		t.Fatalf("data after the measurement % x: still reset values", got)
	}

	// ctrl_hum takes effect at the next ctrl_meas write (5.4.3): in normal
	// mode humidity goes on being measured until then.
	tx(t, bus, 0x76, []byte{bme280.RegCtrlMeas, 0x27}, 0)
	tx(t, bus, 0x76, []byte{bme280.RegCtrlHum, 0x00}, 0)
	clk.Advance(50 * time.Millisecond)
	if got := data(); got[6] == 0x80 && got[7] == 0 {
		t.Fatalf("humidity skipped before the ctrl_meas write: % x", got)
	}
	// config is not written in normal mode (5.4.6).
	tx(t, bus, 0x76, []byte{bme280.RegConfig, 0x10}, 0)
	if got := reg(bme280.RegConfig); got != 0 {
		t.Fatalf("config %#02x written in normal mode", got)
	}
	tx(t, bus, 0x76, []byte{bme280.RegCtrlMeas, 0x27}, 0)
	clk.Advance(50 * time.Millisecond)
	if got := data(); got[6] != 0x80 || got[7] != 0 {
		t.Fatalf("humidity %02x%02x after ctrl_hum 0 took effect, want 0x8000", got[6], got[7])
	}
}
