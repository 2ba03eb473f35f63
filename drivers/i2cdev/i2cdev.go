// Package i2cdev holds what every I2C chip driver of Hearth shares: the
// kinds of failure a caller must tell apart (errors.Is), and the
// recognition of a NACK in the error a bus returns.
package i2cdev

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"periph.io/x/conn/v3/i2c"
)

// The kinds of failure, for errors.Is.
var (
	// ErrNACK: no chip acknowledged at the address (absent, unpowered,
	// miswired, or busy).
	ErrNACK = errors.New("i2c: no acknowledge")
	// ErrCRC: the chip answered but a checksum did not match (noise, a
	// long cable, a missing pull-up).
	ErrCRC = errors.New("i2c: checksum mismatch")
	// ErrChipID: something answered that is not the chip configured.
	ErrChipID = errors.New("i2c: unexpected chip id")
	// ErrGarbage: the chip answered with a value it cannot produce.
	ErrGarbage = errors.New("i2c: implausible reading")
)

// IsNACK reports whether err from a bus means the address was not
// acknowledged. Linux reports it as ENXIO or EREMOTEIO depending on the
// adapter, and periph's sysfs bus keeps only the errno's text.
func IsNACK(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNACK) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EREMOTEIO) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, syscall.ENXIO.Error()) || strings.Contains(s, syscall.EREMOTEIO.Error())
}

// Tx does one transaction and wraps a failure with the chip, the address
// and, for a NACK, ErrNACK.
func Tx(bus i2c.Bus, chip string, addr uint16, w, r []byte) error {
	err := bus.Tx(addr, w, r)
	if err == nil {
		return nil
	}
	if IsNACK(err) && !errors.Is(err, ErrNACK) {
		return fmt.Errorf("%s at %#02x on %s: %w: %w", chip, addr, bus, ErrNACK, err)
	}
	return fmt.Errorf("%s at %#02x on %s: %w", chip, addr, bus, err)
}
