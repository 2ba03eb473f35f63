package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"
)

// periphBackend is the board's own hardware: I2C buses from /dev/i2c-*
// and GPIO lines from the kernel's character devices, through periph.
type periphBackend struct {
	mu    sync.Mutex
	buses map[string]i2c.BusCloser
}

var periphInit = sync.OnceValue(func() error {
	_, err := host.Init()
	return err
})

func newPeriphBackend() (*periphBackend, error) {
	if err := periphInit(); err != nil {
		return nil, fmt.Errorf("periph: %w", err)
	}
	return &periphBackend{buses: map[string]i2c.BusCloser{}}, nil
}

func (b *periphBackend) I2C(name string) (i2c.Bus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bus, ok := b.buses[name]; ok {
		return bus, nil
	}
	bus, err := i2creg.Open(name)
	if err != nil {
		return nil, fmt.Errorf("I2C bus %q: %w (buses here: %s)", name, err, listOrNone(i2cBusNames()))
	}
	b.buses[name] = bus
	return bus, nil
}

func (b *periphBackend) Pin(name string) (gpio.PinIO, error) {
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("no GPIO line named %q (run hearthd --list-hardware to see them)", name)
	}
	return p, nil
}

func (b *periphBackend) Run(context.Context) {}

func (b *periphBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, bus := range b.buses {
		errs = append(errs, bus.Close())
	}
	return errors.Join(errs...)
}

func i2cBusNames() []string {
	var names []string
	for _, r := range i2creg.All() {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return names
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// ListHardware prints the I2C buses and GPIO lines periph finds on this
// machine, for `hearthd --list-hardware`.
func ListHardware(w io.Writer) error {
	if err := periphInit(); err != nil {
		return fmt.Errorf("periph: %w", err)
	}
	fmt.Fprintf(w, "I2C buses: %s\n", listOrNone(i2cBusNames()))
	var lines []string
	for _, p := range gpioreg.All() {
		lines = append(lines, p.Name())
	}
	fmt.Fprintf(w, "GPIO lines: %s\n", listOrNone(lines))
	return nil
}
