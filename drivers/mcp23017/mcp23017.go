package mcp23017

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"

	"github.com/hearth-hub/hearth/drivers/i2cdev"
)

// Register addresses with IOCON.BANK = 0 (Table 3-1): port A's register;
// port B's is the next address.
const (
	regIODIR = 0x00
	regIPOL  = 0x02
	regIOCON = 0x0A
	regGPPU  = 0x0C
	regGPIO  = 0x12
	regOLAT  = 0x14
	numRegs  = 0x16

	ioconBANK   = 0x80 // §3.5.6 bit 7
	ioconUnused = 0x01 // §3.5.6 bit 0: unimplemented, reads 0
)

// DefaultPoll is how often WaitForEdge reads the GPIO register.
const DefaultPoll = 5 * time.Millisecond

// Opts configure an expander.
type Opts struct {
	Addr uint16 // 0x20..0x27, set by the A2..A0 pins
	// Poll: WaitForEdge reads the GPIO register this often; zero:
	// DefaultPoll. At 100 kHz one read takes ~0.4 ms of the bus; lines
	// polled together share reads.
	Poll  time.Duration
	Clock clockwork.Clock // nil: the real clock
}

// DefaultOpts is the chip at 0x20 (A2..A0 low), polled every 5 ms.
func DefaultOpts() Opts { return Opts{Addr: 0x20, Poll: DefaultPoll} }

// Dev is an MCP23017. It never owns or closes the bus. Its lines' register
// writes are serialised by the Dev; it is safe for concurrent use.
type Dev struct {
	bus   i2c.Bus
	addr  uint16
	poll  time.Duration
	clock clockwork.Clock
	name  string

	mu     sync.Mutex
	regs   [numRegs]byte // cached IODIR, IPOL, GPPU, OLAT
	known  [numRegs]bool
	gpio   [2]byte // last GPIO reads, shared by polling lines
	gpioAt [2]time.Time
	gpioOK [2]bool
	pins   [16]*Pin
}

// New checks opts, then probes the chip: it reads IOCON, which with
// IOCON.BANK = 0 appears at 0x0A and 0x0B (Table 3-1) and must read the
// same at both with BANK and bit 0 clear; an absent chip fails with an
// error wrapping i2cdev.ErrNACK, something else with i2cdev.ErrChipID.
// It then reads IODIR, IPOL, GPPU and OLAT so that a line's changes keep
// the others as they are: New changes nothing on the chip (a daemon
// restart does not glitch the relays).
func New(bus i2c.Bus, opts *Opts) (*Dev, error) {
	o := DefaultOpts()
	if opts != nil {
		o = *opts
	}
	if o.Addr < 0x20 || o.Addr > 0x27 {
		return nil, fmt.Errorf("mcp23017: address %#02x out of range 0x20..0x27", o.Addr)
	}
	if o.Poll == 0 {
		o.Poll = DefaultPoll
	}
	if o.Poll < 0 || o.Poll > time.Second {
		return nil, fmt.Errorf("mcp23017: poll %s out of range 0..1s", o.Poll)
	}
	if bus == nil {
		return nil, errors.New("mcp23017: no bus")
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	d := &Dev{bus: bus, addr: o.Addr, poll: o.Poll, clock: o.Clock, name: fmt.Sprintf("MCP23017_%#02x", o.Addr)}
	var iocon [2]byte
	if err := d.tx([]byte{regIOCON}, iocon[:]); err != nil {
		return nil, err
	}
	if iocon[0] != iocon[1] || iocon[0]&(ioconBANK|ioconUnused) != 0 {
		return nil, fmt.Errorf("%s: IOCON reads %#02x, %#02x: not an MCP23017 with IOCON.BANK=0: %w", d, iocon[0], iocon[1], i2cdev.ErrChipID)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range []byte{regIODIR, regIPOL, regGPPU, regOLAT} {
		if err := d.tx([]byte{r}, d.regs[r:r+2]); err != nil {
			return nil, err
		}
		d.known[r], d.known[r+1] = true, true
	}
	return d, nil
}

func (d *Dev) tx(w, r []byte) error { return i2cdev.Tx(d.bus, "mcp23017", d.addr, w, r) }

// String is "MCP23017_0x20".
func (d *Dev) String() string { return d.name }

// Pin returns line n: GPA0..7 = 0..7, GPB0..7 = 8..15. The same n gives
// the same *Pin.
func (d *Dev) Pin(n int) (*Pin, error) {
	if n < 0 || n > 15 {
		return nil, fmt.Errorf("%s: no line %d: 0..15", d, n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pins[n] == nil {
		port := "A"
		if n >= 8 {
			port = "B"
		}
		d.pins[n] = &Pin{
			d: d, n: n, port: byte(n / 8), bit: 1 << (n % 8),
			name: fmt.Sprintf("%s_GP%s%d", d.name, port, n%8),
			intr: make(chan struct{}),
		}
	}
	return d.pins[n], nil
}

// update sets or clears bit in port's copy of reg and writes it. The
// register is always written, so a chip reset behind our back (a
// brown-out) heals as lines are used; d.mu is held.
func (d *Dev) update(reg, port, bit byte, set bool) error {
	a := reg + port
	if !d.known[a] {
		if err := d.tx([]byte{a}, d.regs[a:a+1]); err != nil {
			return err
		}
		d.known[a] = true
	}
	v := d.regs[a] &^ bit
	if set {
		v |= bit
	}
	if err := d.tx([]byte{a, v}, nil); err != nil {
		// The write may or may not have landed: read it again next time.
		d.known[a] = false
		return err
	}
	d.regs[a] = v
	return nil
}

// readGPIO reads port's GPIO register, or returns a read younger than
// maxAge.
func (d *Dev) readGPIO(port byte, maxAge time.Duration) (byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	if maxAge > 0 && d.gpioOK[port] && now.Sub(d.gpioAt[port]) < maxAge {
		return d.gpio[port], nil
	}
	var b [1]byte
	if err := d.tx([]byte{regGPIO + port}, b[:]); err != nil {
		d.gpioOK[port] = false
		return 0, err
	}
	d.gpio[port], d.gpioAt[port], d.gpioOK[port] = b[0], now, true
	return b[0], nil
}

// Pin is one line of the expander. It implements gpio.PinIO: In with a
// pull-up or none (the chip has no pull-down), edges by polling the GPIO
// register, Out through OLAT and IODIR; no PWM.
type Pin struct {
	d    *Dev
	n    int
	port byte
	bit  byte
	name string

	mu     sync.Mutex
	edge   gpio.Edge
	last   gpio.Level // level at the last poll, to find edges
	lastOK bool
	intr   chan struct{} // closed by In and Halt: ends WaitForEdge
}

var (
	_ gpio.PinIO  = (*Pin)(nil)
	_ pin.PinFunc = (*Pin)(nil)
)

// String implements conn.Resource: "MCP23017_0x20_GPA3".
func (p *Pin) String() string { return p.name }

// Name implements pin.Pin.
func (p *Pin) Name() string { return p.name }

// Number implements pin.Pin: 0..15.
func (p *Pin) Number() int { return p.n }

// Function implements pin.Pin.
func (p *Pin) Function() string { return string(p.Func()) }

// Func implements pin.PinFunc; an input's level is read from the chip.
func (p *Pin) Func() pin.Func {
	p.d.mu.Lock()
	a, known := regIODIR+p.port, p.d.known[regIODIR+p.port]
	in := p.d.regs[a]&p.bit != 0
	high := p.d.regs[regOLAT+p.port]&p.bit != 0
	p.d.mu.Unlock()
	switch {
	case !known:
		return pin.FuncNone
	case !in && high:
		return gpio.OUT_HIGH
	case !in:
		return gpio.OUT_LOW
	}
	l, err := p.ReadLevel()
	switch {
	case err != nil:
		return pin.FuncNone
	case l == gpio.High:
		return gpio.IN_HIGH
	}
	return gpio.IN_LOW
}

// SupportedFuncs implements pin.PinFunc.
func (p *Pin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT} }

// SetFunc implements pin.PinFunc.
func (p *Pin) SetFunc(f pin.Func) error {
	switch f {
	case gpio.IN:
		return p.In(gpio.PullNoChange, gpio.NoEdge)
	case gpio.IN_HIGH:
		return p.In(gpio.PullUp, gpio.NoEdge)
	case gpio.FLOAT:
		return p.In(gpio.Float, gpio.NoEdge)
	case gpio.OUT, gpio.OUT_LOW:
		return p.Out(gpio.Low)
	case gpio.OUT_HIGH:
		return p.Out(gpio.High)
	}
	return fmt.Errorf("%s: function %q not supported", p, f)
}

// Halt implements conn.Resource: it ends a pending WaitForEdge and leaves
// the line as it is.
func (p *Pin) Halt() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.intr)
	p.intr = make(chan struct{})
	return nil
}

// In implements gpio.PinIn: GPPU for the pull (PullUp or Float;
// PullNoChange leaves it), IPOL cleared so GPIO reads the pin as it is,
// then IODIR set. gpio.PullDown is an error: the chip has none (§3.5.7).
// It reads the line once as the reference for edges, and ends a pending
// WaitForEdge.
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	switch {
	case pull == gpio.PullDown:
		return fmt.Errorf("%s: the MCP23017 has no pull-down (use PullUp, Float or an external resistor)", p)
	case pull > gpio.PullUp, edge < gpio.NoEdge, edge > gpio.BothEdges:
		return fmt.Errorf("%s: In(%s, %s): invalid", p, pull, edge)
	}
	err := func() error {
		p.d.mu.Lock()
		defer p.d.mu.Unlock()
		if pull != gpio.PullNoChange {
			if err := p.d.update(regGPPU, p.port, p.bit, pull == gpio.PullUp); err != nil {
				return err
			}
		}
		if err := p.d.update(regIPOL, p.port, p.bit, false); err != nil {
			return err
		}
		return p.d.update(regIODIR, p.port, p.bit, true)
	}()
	if err != nil {
		return fmt.Errorf("%s: In: %w", p, err)
	}
	l, rerr := p.ReadLevel()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.edge = edge
	p.last, p.lastOK = l, rerr == nil
	close(p.intr)
	p.intr = make(chan struct{})
	return nil
}

// Read implements gpio.PinIn: the pin's level from the GPIO register, or
// Low if the bus fails (use ReadLevel to know).
func (p *Pin) Read() gpio.Level {
	l, err := p.ReadLevel()
	if err != nil {
		return gpio.Low
	}
	return l
}

// ReadLevel reads the pin's level from the GPIO register (§3.5.10),
// whether the line is an input or an output, without changing it.
func (p *Pin) ReadLevel() (gpio.Level, error) {
	v, err := p.d.readGPIO(p.port, 0)
	if err != nil {
		return gpio.Low, fmt.Errorf("%s: read: %w", p, err)
	}
	return gpio.Level(v&p.bit != 0), nil
}

// WaitForEdge implements gpio.PinIn by reading the GPIO register every
// Opts.Poll: an edge is a change from the level seen at the last poll (or
// at In), of the kind In asked for. Pulses shorter than the poll period
// can be missed. A negative timeout waits forever; without edge detection
// it returns false at once.
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	p.mu.Lock()
	intr, edge := p.intr, p.edge
	p.mu.Unlock()
	if edge == gpio.NoEdge {
		return false
	}
	var deadline time.Time
	if timeout >= 0 {
		deadline = p.d.clock.Now().Add(timeout)
	}
	for {
		if p.sawEdge() {
			return true
		}
		now := p.d.clock.Now()
		if timeout >= 0 && !now.Before(deadline) {
			return false
		}
		wait := p.d.poll
		if left := deadline.Sub(now); timeout >= 0 && left < wait {
			wait = left
		}
		t := p.d.clock.NewTimer(wait)
		select {
		case <-t.Chan():
		case <-intr:
			t.Stop()
			return false
		}
	}
}

// sawEdge polls the line once; a failed read is no edge.
func (p *Pin) sawEdge() bool {
	v, err := p.d.readGPIO(p.port, p.d.poll)
	if err != nil {
		return false
	}
	l := gpio.Level(v&p.bit != 0)
	p.mu.Lock()
	defer p.mu.Unlock()
	prev, ok := p.last, p.lastOK
	p.last, p.lastOK = l, true
	switch {
	case !ok || l == prev:
		return false
	case p.edge == gpio.BothEdges:
		return true
	case l == gpio.High:
		return p.edge == gpio.RisingEdge
	}
	return p.edge == gpio.FallingEdge
}

// Pull implements gpio.PinIn, from GPPU.
func (p *Pin) Pull() gpio.Pull {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	switch a := regGPPU + p.port; {
	case !p.d.known[a]:
		return gpio.PullNoChange
	case p.d.regs[a]&p.bit != 0:
		return gpio.PullUp
	}
	return gpio.Float
}

// DefaultPull implements gpio.PinIn: no pull-up at power-on (Table 3-5).
func (p *Pin) DefaultPull() gpio.Pull { return gpio.Float }

// Out implements gpio.PinOut: OLAT first, so that the line already holds
// l when IODIR makes it an output (§3.5.11), then IODIR. Other lines'
// bits are kept from the cached registers.
func (p *Pin) Out(l gpio.Level) error {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	if err := p.d.update(regOLAT, p.port, p.bit, l == gpio.High); err != nil {
		return fmt.Errorf("%s: Out(%s): %w", p, l, err)
	}
	if err := p.d.update(regIODIR, p.port, p.bit, false); err != nil {
		return fmt.Errorf("%s: Out(%s): %w", p, l, err)
	}
	return nil
}

// PWM implements gpio.PinOut: the chip has none.
func (p *Pin) PWM(gpio.Duty, physic.Frequency) error {
	return fmt.Errorf("%s: PWM: %w", p, errors.ErrUnsupported)
}
