package gpiosim

import (
	"fmt"
	"sync"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// The MCP23017's registers with IOCON.BANK = 0 (DS20001952C Table 3-1,
// Table 3-5). Written here from the datasheet, not taken from the driver,
// so that the two check each other.
const (
	mcpIODIR   = 0x00
	mcpIPOL    = 0x02
	mcpIOCON   = 0x0A
	mcpIOCONB  = 0x0B
	mcpGPPU    = 0x0C
	mcpINTF    = 0x0E
	mcpINTCAP  = 0x10
	mcpGPIO    = 0x12
	mcpOLAT    = 0x14
	mcpRegs    = 0x16
	iconBANK   = 0x80
	iconSEQOP  = 0x20
	iconUnused = 0x01
)

// MCP23017 models the 16-bit I2C GPIO expander as an i2csim.Device: the
// register map with IOCON.BANK = 0, the address pointer that increments
// and rolls over to 0 (IOCON.SEQOP = 0) or toggles within an A/B pair
// (SEQOP = 1) (§3.2.1, §3.2.2.3), GPIO reads of the pins with IPOL applied
// to inputs, writes to GPIO landing in OLAT (§3.5.10), pull-ups from GPPU.
// Its 16 lines are Pins (Line), so relays, doors and bolts hang off the
// expander as off a SoC. Not modelled: interrupts (INTF and INTCAP read 0,
// GPINTEN, DEFVAL and INTCON are stored only), BANK = 1 (a write setting it
// is refused, as a NACK), HAEN.
type MCP23017 struct {
	mu    sync.Mutex
	reg   [mcpRegs]byte
	ptr   byte
	lines [16]*Pin
}

// NewMCP23017 returns the chip after a power-on reset; its lines are
// named name+"_GPA0" .. name+"_GPB7" and run on clock.
func NewMCP23017(name string, clock clockwork.Clock) *MCP23017 {
	m := &MCP23017{}
	for i := range m.lines {
		port := "A"
		if i >= 8 {
			port = "B"
		}
		m.lines[i] = NewPin(fmt.Sprintf("%s_GP%s%d", name, port, i%8), clock)
		m.lines[i].num = i
	}
	m.Reset()
	return m
}

// Line is the chip's line n: GPA0..7 = 0..7, GPB0..7 = 8..15.
func (m *MCP23017) Line(n int) *Pin { return m.lines[n] }

// Reset is a power-on reset (§3.1): every register to its POR value, every
// line an input without pull-up.
func (m *MCP23017) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reg = [mcpRegs]byte{}
	m.reg[mcpIODIR], m.reg[mcpIODIR+1] = 0xFF, 0xFF
	m.ptr = 0
	m.apply()
}

// Register reads a register as the chip holds it, without bus traffic.
func (m *MCP23017) Register(addr byte) byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.read(addr)
}

// Tx implements i2csim.Device: a write sets the address pointer from its
// first byte and writes the rest; a read continues from the pointer.
func (m *MCP23017) Tx(w, r []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(w) > 0 {
		if w[0] >= mcpRegs {
			return fmt.Errorf("mcp23017: no register %#02x", w[0])
		}
		m.ptr = w[0]
		for _, b := range w[1:] {
			if err := m.write(m.ptr, b); err != nil {
				return err
			}
			m.next()
		}
		m.apply()
	}
	for i := range r {
		r[i] = m.read(m.ptr)
		m.next()
	}
	return nil
}

// next moves the address pointer after a byte (§3.2.1).
func (m *MCP23017) next() {
	if m.reg[mcpIOCON]&iconSEQOP != 0 {
		m.ptr ^= 1
		return
	}
	m.ptr = (m.ptr + 1) % mcpRegs
}

func (m *MCP23017) write(addr, b byte) error {
	switch addr {
	case mcpIOCON, mcpIOCONB:
		if b&iconBANK != 0 {
			return fmt.Errorf("mcp23017: IOCON.BANK=1 is not modelled")
		}
		m.reg[mcpIOCON], m.reg[mcpIOCONB] = b&^iconUnused, b&^iconUnused
	case mcpINTF, mcpINTF + 1, mcpINTCAP, mcpINTCAP + 1:
		// Read-only.
	case mcpGPIO, mcpGPIO + 1:
		m.reg[addr+mcpOLAT-mcpGPIO] = b
	default:
		m.reg[addr] = b
	}
	return nil
}

func (m *MCP23017) read(addr byte) byte {
	if addr != mcpGPIO && addr != mcpGPIO+1 {
		return m.reg[addr]
	}
	port := int(addr - mcpGPIO)
	var v byte
	for bit := range 8 {
		l := m.lines[port*8+bit].Read()
		if m.reg[mcpIODIR+port]&(1<<bit) != 0 && m.reg[mcpIPOL+port]&(1<<bit) != 0 {
			l = !l
		}
		if l {
			v |= 1 << bit
		}
	}
	return v
}

// apply puts IODIR, GPPU and OLAT on the lines, touching only those whose
// setting changed so the lines see no spurious reconfiguration.
func (m *MCP23017) apply() {
	for i, line := range m.lines {
		port, bit := i/8, byte(1)<<(i%8)
		if m.reg[mcpIODIR+port]&bit == 0 {
			l := gpio.Level(m.reg[mcpOLAT+port]&bit != 0)
			if cur, out := line.Output(); !out || cur != l {
				_ = line.Out(l)
			}
			continue
		}
		pull := gpio.Float
		if m.reg[mcpGPPU+port]&bit != 0 {
			pull = gpio.PullUp
		}
		if _, out := line.Output(); out || line.Pull() != pull {
			_ = line.In(pull, gpio.NoEdge)
		}
	}
}
