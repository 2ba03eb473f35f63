package sensorsim_test

import (
	"testing"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/sim/i2csim"
	"github.com/hearth-hub/hearth/sim/sensorsim"
)

// chip is what the simulated chips share.
type chip interface {
	i2csim.Device
	SetClock(clockwork.Clock)
}

var _ = []chip{(*sensorsim.SHT3x)(nil), (*sensorsim.BME280)(nil), (*sensorsim.MCP9808)(nil)}

// newBus returns a simulated bus with c attached at addr, on a clock the
// test shares with the driver under test.
func newBus(t *testing.T, addr uint16, c chip) (*i2csim.Bus, *sensorsim.InstantClock) {
	t.Helper()
	bus := i2csim.New("sim-i2c-1")
	clk := sensorsim.NewInstantClock()
	c.SetClock(clk)
	if err := bus.Attach(addr, c); err != nil {
		t.Fatal(err)
	}
	return bus, clk
}

// celsius is a temperature given in thousandths of a degree Celsius.
func celsius(milli int64) physic.Temperature {
	return physic.ZeroCelsius + physic.Temperature(milli)*physic.MilliKelvin
}

// near reports whether got is within tol of want.
func near[T ~int64 | ~int32](got, want, tol T) bool { return got-want <= tol && want-got <= tol }

// tx does one raw transaction, failing the test on an error.
func tx(t *testing.T, bus *i2csim.Bus, addr uint16, w []byte, n int) []byte {
	t.Helper()
	r := make([]byte, n)
	if err := bus.Tx(addr, w, r); err != nil {
		t.Fatalf("Tx(%#x, % x)=%v", addr, w, err)
	}
	return r
}
