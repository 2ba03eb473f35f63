package relay_test

import (
	"errors"
	"testing"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/hearth-hub/hearth/drivers/mcp23017"
	"github.com/hearth-hub/hearth/drivers/relay"
	"github.com/hearth-hub/hearth/sim/gpiosim"
	"github.com/hearth-hub/hearth/sim/i2csim"
)

func TestNew_DrivesSafeLevel(t *testing.T) {
	for _, tc := range []struct {
		activeLow bool
		off       gpio.Level
	}{{false, gpio.Low}, {true, gpio.High}} {
		p := &gpiotest.Pin{N: "GPIO17", L: !tc.off}
		d, err := relay.New(p, &relay.Opts{ActiveLow: tc.activeLow})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Read(); got != tc.off {
			t.Fatalf("activeLow=%t: line at %s after New, want %s", tc.activeLow, got, tc.off)
		}
		if d.On() {
			t.Fatalf("activeLow=%t: On() after New", tc.activeLow)
		}
	}
}

func TestDev_Set(t *testing.T) {
	p := &gpiotest.Pin{N: "GPIO17"}
	d, err := relay.New(p, &relay.Opts{ActiveLow: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Set(true); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Read(), gpio.Low; got != want || !d.On() {
		t.Fatalf("on: line %s, On()=%t; want %s, true", got, d.On(), want)
	}
	if err := d.Off(); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Read(), gpio.High; got != want || d.On() {
		t.Fatalf("off: line %s, On()=%t; want %s, false", got, d.On(), want)
	}
	_ = d.Set(true)
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Read(), gpio.High; got != want || d.On() {
		t.Fatalf("halted: line %s, On()=%t; want %s, false", got, d.On(), want)
	}
	if got, want := d.String(), "relay(GPIO17)"; got != want {
		t.Fatalf("String()=%q, want %q", got, want)
	}
}

func TestNew_NoPin(t *testing.T) {
	if _, err := relay.New(nil, nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

// gpioioctlLike is a line whose Read() on an output would reconfigure it
// as a pulled-up input, as periph's gpioioctl lines do: the relay must
// never call it.
type gpioioctlLike struct {
	gpiotest.Pin
	reads int
}

func (p *gpioioctlLike) Read() gpio.Level { p.reads++; return p.Pin.Read() }

// A line that cannot read an output back safely: ReadBack is skipped, and
// Read() is never called on the output.
func TestNew_ReadBackUnsupported(t *testing.T) {
	p := &gpioioctlLike{Pin: gpiotest.Pin{N: "GPIO17", L: gpio.High}}
	d, err := relay.New(p, &relay.Opts{ReadBack: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.ReadsBack() {
		t.Fatal("ReadsBack() on a line that cannot read back")
	}
	if err := d.Set(true); err != nil {
		t.Fatal(err)
	}
	if err := d.Off(); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Pin.Read(), gpio.Low; got != want {
		t.Fatalf("line %s, want %s (off)", got, want)
	}
	if p.reads != 0 {
		t.Fatalf("Read() called %d times on an output", p.reads)
	}
}

func newSim(t *testing.T, activeLow bool) (*gpiosim.Pin, *gpiosim.Relay, *relay.Dev) {
	t.Helper()
	p := gpiosim.NewPin("GPIO17", clockwork.NewFakeClock())
	coil := gpiosim.NewRelay(p, activeLow)
	d, err := relay.New(p, &relay.Opts{ActiveLow: activeLow, ReadBack: true})
	if err != nil {
		t.Fatal(err)
	}
	if !d.ReadsBack() {
		t.Fatal("ReadsBack()=false on a simulated line")
	}
	return p, coil, d
}

func TestDev_ReadBack(t *testing.T) {
	p, coil, d := newSim(t, true)
	if err := d.Set(true); err != nil {
		t.Fatal(err)
	}
	if !coil.On() {
		t.Fatal("coil off after Set(true)")
	}
	if err := d.Set(false); err != nil {
		t.Fatal(err)
	}

	// The line reads low (relay on) whatever is driven.
	p.Stick(gpio.Low)
	if err := d.Set(false); !errors.Is(err, relay.ErrReadBack) {
		t.Fatalf("Set(false) on a line stuck on=%v, want ErrReadBack", err)
	}
	// The line reads high (off): switching on cannot be confirmed, so
	// the driver puts the line back off.
	p.Stick(gpio.High)
	if err := d.Set(true); !errors.Is(err, relay.ErrReadBack) {
		t.Fatalf("Set(true) on a line stuck off=%v, want ErrReadBack", err)
	}
	if d.On() {
		t.Fatal("On() after a failed Set(true)")
	}
	if got, want := p.Level(), gpio.High; got != want {
		t.Fatalf("line driven %s after a failed Set(true), want %s (off)", got, want)
	}
	p.Unstick()
	if err := d.Set(true); err != nil {
		t.Fatal(err)
	}
}

// A relay that does not switch (welded contacts, on a board whose line
// reads the contact back).
func TestDev_ReadBackStuckRelay(t *testing.T) {
	_, coil, d := newSim(t, true)
	coil.Stick(true)
	if err := d.Set(true); !errors.Is(err, relay.ErrReadBack) {
		t.Fatalf("Set(true) with the relay stuck off=%v, want ErrReadBack", err)
	}
	if coil.On() {
		t.Fatal("a stuck relay switched")
	}
}

func TestNew_ReadBackFails(t *testing.T) {
	p := gpiosim.NewPin("GPIO17", clockwork.NewFakeClock())
	p.Stick(gpio.High)
	if _, err := relay.New(p, &relay.Opts{ReadBack: true}); !errors.Is(err, relay.ErrReadBack) {
		t.Fatalf("New() on a line stuck high=%v, want ErrReadBack", err)
	}
	p.Unstick()
	boom := errors.New("boom")
	p.FailRead(boom)
	if _, err := relay.New(p, &relay.Opts{ReadBack: true}); !errors.Is(err, boom) {
		t.Fatalf("New() on a line that cannot be read=%v, want boom", err)
	}
}

func TestDev_WriteFails(t *testing.T) {
	p, _, d := newSim(t, false)
	if err := d.Set(true); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	p.FailOut(boom)
	if err := d.Set(false); !errors.Is(err, boom) {
		t.Fatalf("Set(false)=%v, want boom", err)
	}
	if !d.On() {
		t.Fatal("On()=false after a failed Set(false): the relay was never switched off")
	}
	p.FailOut(nil)
	if err := d.Off(); err != nil || d.On() {
		t.Fatalf("Off()=%v, On()=%t", err, d.On())
	}
	p.FailOut(boom)
	if _, err := relay.New(p, nil); !errors.Is(err, boom) {
		t.Fatalf("New() on a line that cannot be driven=%v, want boom", err)
	}
}

// wrapped is a pin wrapper (as gpiotest.LogPinIO is) around a line that
// can read back: ReadBack finds it through gpio.RealPin.
type wrapped struct{ gpio.PinIO }

func (w wrapped) Real() gpio.PinIO { return w.PinIO }

func TestNew_ReadBackThroughWrapper(t *testing.T) {
	p := gpiosim.NewPin("GPIO17", clockwork.NewFakeClock())
	d, err := relay.New(wrapped{p}, &relay.Opts{ReadBack: true})
	if err != nil {
		t.Fatal(err)
	}
	p.Stick(gpio.Low)
	if err := d.Set(true); !errors.Is(err, relay.ErrReadBack) {
		t.Fatalf("Set(true)=%v, want ErrReadBack", err)
	}
}

// The relay driver on a line of a simulated MCP23017 on a simulated bus,
// as on a relay HAT: active low, read back through GPIO.
func TestDev_OnMCP23017(t *testing.T) {
	chip := gpiosim.NewMCP23017("X", nil)
	bus := i2csim.New("sim-i2c-1")
	if err := bus.Attach(0x20, chip); err != nil {
		t.Fatal(err)
	}
	x, err := mcp23017.New(bus, &mcp23017.Opts{Addr: 0x20})
	if err != nil {
		t.Fatal(err)
	}
	line, err := x.Pin(10) // GPB2
	if err != nil {
		t.Fatal(err)
	}
	coil := gpiosim.NewRelay(chip.Line(10), true)
	d, err := relay.New(line, &relay.Opts{ActiveLow: true, ReadBack: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := chip.Line(10).Level(), gpio.High; got != want || coil.On() {
		t.Fatalf("after New: line %s, coil on %t; want %s, off", got, coil.On(), want)
	}
	if err := d.Set(true); err != nil {
		t.Fatal(err)
	}
	if !coil.On() {
		t.Fatal("coil off after Set(true)")
	}
	if got, want := chip.Register(0x01)&0x04, byte(0); got != want {
		t.Fatalf("IODIRB bit 2=%#x, want output", got)
	}
	coil.Stick(true)
	if err := d.Set(false); !errors.Is(err, relay.ErrReadBack) {
		t.Fatalf("Set(false) with the relay stuck on=%v, want ErrReadBack", err)
	}
	coil.Stick(false)
	if err := d.Set(false); err != nil || coil.On() {
		t.Fatalf("Set(false)=%v, coil on %t", err, coil.On())
	}
	bus.SetFault(0x20, i2csim.Fault{NACK: -1})
	if err := d.Set(true); err == nil {
		t.Fatal("Set(true) succeeded with the expander gone")
	}
}
