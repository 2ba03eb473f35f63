// Package i2csim is a simulated I2C bus: a periph i2c.Bus on which
// simulated chips answer at their addresses, with fault injection (NACK,
// corrupted bytes, a stuck reading) so that drivers meet every failure a
// real bus produces.
package i2csim

import (
	"fmt"
	"sort"
	"sync"
	"syscall"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Device is a chip on the bus: it answers one transaction (a write of w,
// then a read into r; either may be empty) as the chip does. An error
// from Tx is a NACK of the transaction's data (the chip was busy).
type Device interface {
	Tx(w, r []byte) error
}

// Fault is what the bus does to the next transactions at one address.
type Fault struct {
	NACK    int // the next NACK transactions are not acknowledged; < 0: all until cleared
	Corrupt int // the next Corrupt reads have one bit flipped; < 0: all until cleared
	// Stuck: every read returns the bytes the last good read returned.
	Stuck bool
}

// Bus is a simulated I2C bus. It is safe for concurrent use; transactions
// are serialised as on a real bus.
type Bus struct {
	name string

	mu     sync.Mutex
	speed  physic.Frequency
	devs   map[uint16]Device
	faults map[uint16]*Fault
	last   map[uint16][]byte // last good read per address, for Stuck
	txs    uint64
	bytes  uint64
}

var _ i2c.Bus = (*Bus)(nil)

// New returns an empty bus named name ("sim-i2c-1").
func New(name string) *Bus {
	return &Bus{name: name, speed: 100 * physic.KiloHertz, devs: map[uint16]Device{}, faults: map[uint16]*Fault{}, last: map[uint16][]byte{}}
}

// Attach puts a device at a 7-bit address.
func (b *Bus) Attach(addr uint16, d Device) error {
	if addr > 0x7F {
		return fmt.Errorf("%s: address %#x is not a 7-bit address", b.name, addr)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.devs[addr]; ok {
		return fmt.Errorf("%s: address %#02x is taken", b.name, addr)
	}
	b.devs[addr] = d
	return nil
}

// Detach removes the device at addr (a chip unplugged).
func (b *Bus) Detach(addr uint16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.devs, addr)
}

// Addresses lists the addresses where a device answers.
func (b *Bus) Addresses() []uint16 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]uint16, 0, len(b.devs))
	for a := range b.devs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// SetFault sets what the bus does at addr; the zero Fault clears it.
func (b *Bus) SetFault(addr uint16, f Fault) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f == (Fault{}) {
		delete(b.faults, addr)
		return
	}
	b.faults[addr] = &f
}

// String implements i2c.Bus.
func (b *Bus) String() string { return b.name }

// SetSpeed implements i2c.Bus.
func (b *Bus) SetSpeed(f physic.Frequency) error {
	if f <= 0 || f > 3400*physic.KiloHertz {
		return fmt.Errorf("%s: speed %s out of range", b.name, f)
	}
	b.mu.Lock()
	b.speed = f
	b.mu.Unlock()
	return nil
}

// Speed is the bus clock the last SetSpeed chose.
func (b *Bus) Speed() physic.Frequency {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.speed
}

// Stats counts transactions and bytes moved, for tests and benchmarks.
func (b *Bus) Stats() (txs, bytes uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.txs, b.bytes
}

// Tx implements i2c.Bus. A missing device, or an injected NACK, gives the
// error Linux gives (EREMOTEIO), wrapped as periph's sysfs bus does.
func (b *Bus) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.txs++
	b.bytes += uint64(len(w) + len(r))
	d, ok := b.devs[addr]
	f := b.faults[addr]
	if !ok || f != nil && f.NACK != 0 {
		if f != nil && f.NACK > 0 {
			f.NACK--
		}
		return fmt.Errorf("%s: tx at %#02x: %w", b.name, addr, syscall.EREMOTEIO)
	}
	if err := d.Tx(w, r); err != nil {
		return fmt.Errorf("%s: tx at %#02x: %w (%v)", b.name, addr, syscall.EREMOTEIO, err)
	}
	if len(r) == 0 {
		return nil
	}
	if f != nil && f.Stuck {
		if prev := b.last[addr]; len(prev) == len(r) {
			copy(r, prev)
			return nil
		}
	}
	b.last[addr] = append(b.last[addr][:0], r...)
	if f != nil && f.Corrupt != 0 {
		if f.Corrupt > 0 {
			f.Corrupt--
		}
		r[len(r)/2] ^= 0x04
	}
	return nil
}
