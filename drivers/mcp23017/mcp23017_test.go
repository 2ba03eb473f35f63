package mcp23017_test

import (
	"errors"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/hearth-hub/hearth/drivers/i2cdev"
	"github.com/hearth-hub/hearth/drivers/mcp23017"
	"github.com/hearth-hub/hearth/sim/i2csim"
)

// probePOR is New on a chip just out of power-on reset at 0x20. Register
// addresses from Table 3-1 (IOCON.BANK = 0), values from Table 3-5's
// POR/RST column: IODIR 1111 1111, everything else 0000 0000.
func probePOR(addr uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: addr, W: []byte{0x0A}, R: []byte{0x00, 0x00}}, // IOCON at 0x0A and its mirror 0x0B
		{Addr: addr, W: []byte{0x00}, R: []byte{0xFF, 0xFF}}, // IODIRA, IODIRB: all inputs
		{Addr: addr, W: []byte{0x02}, R: []byte{0x00, 0x00}}, // IPOLA, IPOLB
		{Addr: addr, W: []byte{0x0C}, R: []byte{0x00, 0x00}}, // GPPUA, GPPUB
		{Addr: addr, W: []byte{0x14}, R: []byte{0x00, 0x00}}, // OLATA, OLATB
	}
}

func playback(t *testing.T, ops ...[]i2ctest.IO) *i2ctest.Playback {
	t.Helper()
	pb := &i2ctest.Playback{DontPanic: true}
	for _, o := range ops {
		pb.Ops = append(pb.Ops, o...)
	}
	t.Cleanup(func() {
		if err := pb.Close(); err != nil {
			t.Error(err)
		}
	})
	return pb
}

func TestNew(t *testing.T) {
	pb := playback(t, probePOR(0x27))
	d, err := mcp23017.New(pb, &mcp23017.Opts{Addr: 0x27})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.String(), "MCP23017_0x27"; got != want {
		t.Fatalf("String()=%q, want %q", got, want)
	}
}

func TestNew_Address(t *testing.T) {
	for _, a := range []uint16{0x00, 0x1F, 0x28, 0x44} {
		pb := playback(t) // no traffic at all
		if _, err := mcp23017.New(pb, &mcp23017.Opts{Addr: a}); err == nil {
			t.Errorf("New(addr %#02x) succeeded", a)
		}
	}
}

// Nothing answers at the address: i2csim's empty bus gives EREMOTEIO as
// Linux does.
func TestNew_Absent(t *testing.T) {
	_, err := mcp23017.New(i2csim.New("sim-i2c-1"), nil)
	if !errors.Is(err, i2cdev.ErrNACK) {
		t.Fatalf("New()=%v, want ErrNACK", err)
	}
}

// Something answers whose 0x0A/0x0B are not IOCON of a BANK=0 chip.
func TestNew_NotThisChip(t *testing.T) {
	for _, iocon := range [][]byte{
		{0x80, 0x80}, // BANK set: 0x0A is OLATA in BANK=1 mode
		{0x00, 0x5A}, // two different registers
		{0x01, 0x01}, // bit 0 is unimplemented and reads 0 (§3.5.6)
	} {
		pb := playback(t, []i2ctest.IO{{Addr: 0x20, W: []byte{0x0A}, R: iocon}})
		if _, err := mcp23017.New(pb, nil); !errors.Is(err, i2cdev.ErrChipID) {
			t.Errorf("IOCON % x: New()=%v, want ErrChipID", iocon, err)
		}
	}
}

// Out on GPA3: OLATA first, so the latch holds the level before IODIRA
// makes the line an output (§3.5.11, §3.5.1); the other bits are kept.
func TestPin_Out(t *testing.T) {
	pb := playback(t, probePOR(0x20), []i2ctest.IO{
		{Addr: 0x20, W: []byte{0x14, 0x08}}, // OLATA: GPA3 high
		{Addr: 0x20, W: []byte{0x00, 0xF7}}, // IODIRA: GPA3 output
		{Addr: 0x20, W: []byte{0x14, 0x00}}, // OLATA: GPA3 low
		{Addr: 0x20, W: []byte{0x00, 0xF7}}, // IODIRA written again (heals a reset chip)
		{Addr: 0x20, W: []byte{0x15, 0x80}}, // OLATB: GPB7 high
		{Addr: 0x20, W: []byte{0x01, 0x7F}}, // IODIRB: GPB7 output
		{Addr: 0x20, W: []byte{0x12}, R: []byte{0x00}},
	})
	d, err := mcp23017.New(pb, nil)
	if err != nil {
		t.Fatal(err)
	}
	a3, _ := d.Pin(3)
	b7, _ := d.Pin(15)
	if got, want := a3.Name(), "MCP23017_0x20_GPA3"; got != want {
		t.Fatalf("Name()=%q, want %q", got, want)
	}
	for _, step := range []struct {
		p *mcp23017.Pin
		l gpio.Level
	}{{a3, gpio.High}, {a3, gpio.Low}, {b7, gpio.High}} {
		if err := step.p.Out(step.l); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := a3.Func(), gpio.OUT_LOW; got != want {
		t.Fatalf("GPA3 Func()=%s, want %s", got, want)
	}
	if got, want := b7.Func(), gpio.OUT_HIGH; got != want {
		t.Fatalf("GPB7 Func()=%s, want %s", got, want)
	}
	if got, want := a3.Read(), gpio.Low; got != want { // reads GPIOA
		t.Fatalf("GPA3 Read()=%s, want %s", got, want)
	}
}

// In on GPB1 with the pull-up: GPPUB (§3.5.7), IPOLB cleared (§3.5.2),
// IODIRB set (§3.5.1), then GPIOB read once as the edge reference.
func TestPin_In(t *testing.T) {
	pb := playback(t, probePOR(0x20), []i2ctest.IO{
		{Addr: 0x20, W: []byte{0x0D, 0x02}},            // GPPUB
		{Addr: 0x20, W: []byte{0x03, 0x00}},            // IPOLB
		{Addr: 0x20, W: []byte{0x01, 0xFF}},            // IODIRB
		{Addr: 0x20, W: []byte{0x13}, R: []byte{0x02}}, // GPIOB: GPB1 high
		{Addr: 0x20, W: []byte{0x13}, R: []byte{0x00}}, // Read: GPB1 low
		{Addr: 0x20, W: []byte{0x13}, R: []byte{0x02}}, // Func: GPB1 high
		{Addr: 0x20, W: []byte{0x0D, 0x00}},            // In(Float): GPPUB
		{Addr: 0x20, W: []byte{0x03, 0x00}},
		{Addr: 0x20, W: []byte{0x01, 0xFF}},
		{Addr: 0x20, W: []byte{0x13}, R: []byte{0x00}},
	})
	d, err := mcp23017.New(pb, nil)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := d.Pin(9)
	if err := b1.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	if got, want := b1.Pull(), gpio.PullUp; got != want {
		t.Fatalf("Pull()=%s, want %s", got, want)
	}
	if got, want := b1.Read(), gpio.Low; got != want {
		t.Fatalf("Read()=%s, want %s", got, want)
	}
	if got, want := b1.Func(), gpio.IN_HIGH; got != want {
		t.Fatalf("Func()=%s, want %s", got, want)
	}
	if err := b1.In(gpio.Float, gpio.NoEdge); err != nil {
		t.Fatal(err)
	}
	if got, want := b1.Pull(), gpio.Float; got != want {
		t.Fatalf("Pull()=%s, want %s", got, want)
	}
}

// New leaves a configured chip as it is (a daemon restart must not
// glitch relays), and later changes keep the other lines' bits.
func TestNew_KeepsState(t *testing.T) {
	pb := playback(t, []i2ctest.IO{
		{Addr: 0x20, W: []byte{0x0A}, R: []byte{0x00, 0x00}},
		{Addr: 0x20, W: []byte{0x00}, R: []byte{0xF7, 0xFF}}, // GPA3 an output
		{Addr: 0x20, W: []byte{0x02}, R: []byte{0x00, 0x00}},
		{Addr: 0x20, W: []byte{0x0C}, R: []byte{0x00, 0x10}}, // GPB4 pulled up
		{Addr: 0x20, W: []byte{0x14}, R: []byte{0x08, 0x00}}, // GPA3 high
		{Addr: 0x20, W: []byte{0x14, 0x18}},                  // GPA4 high, GPA3 kept
		{Addr: 0x20, W: []byte{0x00, 0xE7}},
		{Addr: 0x20, W: []byte{0x0D, 0x11}}, // GPB0 pulled up, GPB4 kept
		{Addr: 0x20, W: []byte{0x03, 0x00}},
		{Addr: 0x20, W: []byte{0x01, 0xFF}},
		{Addr: 0x20, W: []byte{0x13}, R: []byte{0x11}},
	})
	d, err := mcp23017.New(pb, nil)
	if err != nil {
		t.Fatal(err)
	}
	a4, _ := d.Pin(4)
	if err := a4.Out(gpio.High); err != nil {
		t.Fatal(err)
	}
	b0, _ := d.Pin(8)
	if err := b0.In(gpio.PullUp, gpio.NoEdge); err != nil {
		t.Fatal(err)
	}
}

func TestPin_Refuses(t *testing.T) {
	pb := playback(t, probePOR(0x20)) // and nothing more
	d, err := mcp23017.New(pb, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := d.Pin(0)
	if err := p.In(gpio.PullDown, gpio.NoEdge); err == nil {
		t.Error("In(PullDown) succeeded: the chip has no pull-down")
	}
	if err := p.PWM(gpio.DutyHalf, 0); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("PWM()=%v, want ErrUnsupported", err)
	}
	if err := p.SetFunc(gpio.IN_LOW); err == nil {
		t.Error("SetFunc(IN_LOW) succeeded")
	}
	for _, n := range []int{-1, 16} {
		if _, err := d.Pin(n); err == nil {
			t.Errorf("Pin(%d) succeeded", n)
		}
	}
	if p.WaitForEdge(0) {
		t.Error("WaitForEdge without edge detection saw an edge")
	}
	if p2, _ := d.Pin(0); p2 != p {
		t.Error("Pin(0) twice gave two pins")
	}
	if got, want := p.DefaultPull(), gpio.Float; got != want {
		t.Errorf("DefaultPull()=%s, want %s", got, want)
	}
}
