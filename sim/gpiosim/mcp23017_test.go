package gpiosim

import (
	"bytes"
	"testing"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/sim/i2csim"
)

func newChip(t *testing.T) (*MCP23017, *i2csim.Bus) {
	t.Helper()
	m := NewMCP23017("X", clockwork.NewFakeClock())
	bus := i2csim.New("sim-i2c-1")
	if err := bus.Attach(0x20, m); err != nil {
		t.Fatal(err)
	}
	return m, bus
}

func tx(t *testing.T, bus *i2csim.Bus, w []byte, n int) []byte {
	t.Helper()
	r := make([]byte, n)
	if err := bus.Tx(0x20, w, r); err != nil {
		t.Fatalf("Tx(%#v): %v", w, err)
	}
	return r
}

// The POR values of Table 3-5: IODIR 0xFF, everything else 0; read in one
// sequential transaction from 0x00 through the whole map.
func TestMCP23017_PowerOn(t *testing.T) {
	_, bus := newChip(t)
	got := tx(t, bus, []byte{0x00}, 0x16)
	want := make([]byte, 0x16)
	want[0], want[1] = 0xFF, 0xFF
	if !bytes.Equal(got, want) {
		t.Fatalf("registers after POR: % x, want % x", got, want)
	}
}

// §3.2.2.3: the pointer rolls over to 0 after 0x15 (SEQOP = 0); §3.2.1:
// in Byte mode with BANK = 0 it toggles within the A/B pair.
func TestMCP23017_AddressPointer(t *testing.T) {
	m, bus := newChip(t)
	tx(t, bus, []byte{0x14, 0x12, 0x34}, 0) // OLATA, OLATB
	if got, want := tx(t, bus, []byte{0x14}, 4), []byte{0x12, 0x34, 0xFF, 0xFF}; !bytes.Equal(got, want) {
		t.Fatalf("read from 0x14: % x, want % x (OLATA, OLATB, IODIRA, IODIRB)", got, want)
	}
	tx(t, bus, []byte{0x0A, 0x20}, 0) // IOCON.SEQOP = 1
	if got, want := m.Register(0x0B), byte(0x20); got != want {
		t.Fatalf("IOCON at 0x0B=%#02x, want %#02x (one register, two addresses)", got, want)
	}
	if got, want := tx(t, bus, []byte{0x15}, 3), []byte{0x34, 0x12, 0x34}; !bytes.Equal(got, want) {
		t.Fatalf("byte mode read from 0x15: % x, want % x", got, want)
	}
}

// §3.5.10: GPIO reads the pins, a write to it lands in OLAT; §3.5.1: IODIR
// 0 = output; §3.5.2: IPOL inverts inputs only; §3.5.7: GPPU pulls up.
func TestMCP23017_Lines(t *testing.T) {
	m, bus := newChip(t)
	relay := NewRelay(m.Line(3), false) // GPA3
	door := NewDoor(m.Line(9), true, false)

	tx(t, bus, []byte{0x12, 0x08}, 0) // GPIOA = GPA3 high: into OLATA
	if got, want := m.Register(0x14), byte(0x08); got != want {
		t.Fatalf("OLATA=%#02x, want %#02x", got, want)
	}
	if relay.On() {
		t.Fatal("relay on while GPA3 is still an input")
	}
	tx(t, bus, []byte{0x00, 0xF7}, 0) // IODIRA: GPA3 output
	if !relay.On() {
		t.Fatal("relay off with GPA3 an output at high")
	}
	if got := tx(t, bus, []byte{0x12}, 1)[0]; got&0x08 == 0 {
		t.Fatalf("GPIOA=%#02x: GPA3 reads low", got)
	}

	// GPB1: a shut door pulls it low; without pull-up an open door
	// leaves it floating, with GPPU it reads high.
	if got := tx(t, bus, []byte{0x13}, 1)[0]; got&0x02 != 0 {
		t.Fatalf("GPIOB=%#02x: GPB1 high with the door shut", got)
	}
	tx(t, bus, []byte{0x0D, 0x02}, 0) // GPPUB
	door.Open()
	m.Line(9).Release() // the reed switch opens: only the pull-up drives it
	if got := tx(t, bus, []byte{0x13}, 1)[0]; got&0x02 == 0 {
		t.Fatalf("GPIOB=%#02x: GPB1 low with the door open and pulled up", got)
	}
	tx(t, bus, []byte{0x03, 0x02}, 0) // IPOLB: invert GPB1
	if got := tx(t, bus, []byte{0x13}, 1)[0]; got&0x02 != 0 {
		t.Fatalf("GPIOB=%#02x: IPOL did not invert GPB1", got)
	}
	tx(t, bus, []byte{0x02, 0x08}, 0) // IPOLA on GPA3, an output: no effect
	if got := tx(t, bus, []byte{0x12}, 1)[0]; got&0x08 == 0 {
		t.Fatalf("GPIOA=%#02x: IPOL inverted an output", got)
	}
	if got, want := m.Line(9).Pull(), gpio.PullUp; got != want {
		t.Fatalf("GPB1 pull %s, want %s", got, want)
	}
}

func TestMCP23017_Refuses(t *testing.T) {
	m, bus := newChip(t)
	if err := bus.Tx(0x20, []byte{0x0A, 0x80}, nil); err == nil {
		t.Fatal("IOCON.BANK=1 accepted")
	}
	if err := bus.Tx(0x20, []byte{0x16}, make([]byte, 1)); err == nil {
		t.Fatal("register 0x16 accepted")
	}
	tx(t, bus, []byte{0x0E, 0xFF, 0xFF, 0xFF, 0xFF}, 0) // INTF, INTCAP: read-only
	if got := tx(t, bus, []byte{0x0E}, 4); !bytes.Equal(got, make([]byte, 4)) {
		t.Fatalf("INTF/INTCAP=% x after a write, want zeros", got)
	}
	m.Reset()
	if got, want := m.Register(0x00), byte(0xFF); got != want {
		t.Fatalf("IODIRA after Reset=%#02x, want %#02x", got, want)
	}
}
