//go:build vmtest

package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/gpioioctl"
)

// The gpio-sim chip and the line names vmtest/init gives it.
const (
	chipLabel     = "hearth"
	lineRelayHigh = "relay_hi"
	lineRelayLow  = "relay_lo"
	lineDoor      = "door"
	lineExtend    = "bolt_extend"
	lineRetract   = "bolt_retract"
	lineExtended  = "bolt_extended"
	lineRetracted = "bolt_retracted"
)

// tick is how often the simulated world looks at the drive lines and puts
// switches back.
const tick = 5 * time.Millisecond

var chip *gpioioctl.GPIOChip

func TestMain(m *testing.M) {
	if os.Getenv("HEARTH_VMTEST") != "1" {
		fmt.Println("vmtest/guest: not inside the vmtest VM, nothing to do (make vmtest runs these tests)")
		os.Exit(0)
	}
	if _, err := host.Init(); err != nil {
		fmt.Fprintln(os.Stderr, "host.Init:", err)
		os.Exit(1)
	}
	for _, c := range gpioioctl.Chips {
		if c.Label() == chipLabel {
			chip = c
		}
	}
	if chip == nil {
		fmt.Fprintf(os.Stderr, "no GPIO chip labelled %q among %d chips\n", chipLabel, len(gpioioctl.Chips))
		os.Exit(1)
	}
	fmt.Printf("vmtest/guest: chip %s (%s), %d lines\n", chip.Name(), chip.Path(), chip.LineCount())
	os.Exit(m.Run())
}

// simLine is one line of the simulated chip: the periph line a driver gets,
// and gpio-sim's sysfs attributes, which the tests use as the world outside.
type simLine struct {
	name string
	pin  *gpioioctl.GPIOLine
	dir  string // /sys/bus/gpio/devices/gpiochipN/sim_gpioK
}

// mustLine returns the named line, released again when the test ends.
func mustLine(t testing.TB, name string) *simLine {
	t.Helper()
	p := chip.ByName(name)
	if p == nil {
		t.Fatalf("chip %s has no line %q", chip.Name(), name)
	}
	t.Cleanup(p.Close)
	l := &simLine{
		name: name,
		pin:  p,
		dir:  filepath.Join("/sys/bus/gpio/devices", chip.Name(), fmt.Sprintf("sim_gpio%d", p.Number())),
	}
	if _, err := os.Stat(l.dir); err != nil {
		t.Fatalf("gpio-sim attributes of %s: %v", name, err)
	}
	return l
}

// value is the level gpio-sim sees on the line: what a driver drives on an
// output, what the pull makes of an input.
func (l *simLine) value() (gpio.Level, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, "value"))
	if err != nil {
		return gpio.Low, err
	}
	switch s := strings.TrimSpace(string(b)); s {
	case "0":
		return gpio.Low, nil
	case "1":
		return gpio.High, nil
	default:
		return gpio.Low, fmt.Errorf("%s value %q", l.name, s)
	}
}

func (l *simLine) mustValue(t testing.TB) gpio.Level {
	t.Helper()
	v, err := l.value()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// pull is the level gpio-sim pulls the line to when it is not driven. A
// driver's bias request changes it too.
func (l *simLine) pull() (gpio.Level, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, "pull"))
	if err != nil {
		return gpio.Low, err
	}
	switch s := strings.TrimSpace(string(b)); s {
	case "pull-down":
		return gpio.Low, nil
	case "pull-up":
		return gpio.High, nil
	default:
		return gpio.Low, fmt.Errorf("%s pull %q", l.name, s)
	}
}

// setPull is a switch or a sensor outside the board setting the level of an
// input. Edge detection sees the change.
func (l *simLine) setPull(v gpio.Level) error {
	s := "pull-down"
	if v {
		s = "pull-up"
	}
	return os.WriteFile(filepath.Join(l.dir, "pull"), []byte(s), 0)
}

func (l *simLine) mustSetPull(t testing.TB, v gpio.Level) {
	t.Helper()
	if err := l.setPull(v); err != nil {
		t.Fatal(err)
	}
}

// Line flags of the GPIO character device's v2 ABI (linux/gpio.h).
const (
	flagUsed   = 1 << 0
	flagInput  = 1 << 2
	flagOutput = 1 << 3
)

// gpioV2LineInfo is struct gpio_v2_line_info.
type gpioV2LineInfo struct {
	name     [32]byte
	consumer [32]byte
	offset   uint32
	numAttrs uint32
	flags    uint64
	attrs    [10][16]byte
	padding  [4]uint32
}

// GPIO_V2_GET_LINEINFO_IOCTL: _IOWR(0xB4, 0x05, struct gpio_v2_line_info).
const getLineInfoIoctl = 3<<30 | uint32(unsafe.Sizeof(gpioV2LineInfo{}))<<16 | 0xB4<<8 | 0x05

// flags asks the kernel how the line is requested right now (direction,
// bias, edges), independently of periph.
func (l *simLine) flags() (uint64, error) {
	f, err := os.Open(chip.Path())
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info := gpioV2LineInfo{offset: uint32(l.pin.Number())}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(getLineInfoIoctl), uintptr(unsafe.Pointer(&info))); errno != 0 {
		return 0, fmt.Errorf("line info of %s: %w", l.name, errno)
	}
	return info.flags, nil
}

func (l *simLine) mustBeOutput(t testing.TB) {
	t.Helper()
	f, err := l.flags()
	if err != nil {
		t.Fatal(err)
	}
	if f&flagUsed == 0 || f&flagOutput == 0 {
		t.Fatalf("%s: line flags %#x, want requested as an output", l.name, f)
	}
}

// world is what surrounds the board: switches that hold input lines at a
// level, and an optional step (a motor) that watches the drive lines.
// gpio-sim applies a driver's bias request as the input's level, which a real
// switch would overpower; every tick the world puts its switches back.
type world struct {
	t        testing.TB
	mu       sync.Mutex
	switches map[*simLine]gpio.Level
	step     func(*world) // called every tick with mu held
	fixes    int          // switch levels put back after a driver's bias changed them
	stop     chan struct{}
	done     chan struct{}
}

// newWorld starts the world; it stops when the test ends.
func newWorld(t testing.TB, step func(*world)) *world {
	w := &world{t: t, switches: map[*simLine]gpio.Level{}, step: step, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	t.Cleanup(w.close)
	return w
}

func (w *world) close() {
	select {
	case <-w.stop:
		return
	default:
	}
	close(w.stop)
	<-w.done
	if w.fixes > 0 {
		w.t.Logf("world: put a switch back %d time(s) after a driver's bias request moved it", w.fixes)
	}
}

// set moves a switch now.
func (w *world) set(l *simLine, v gpio.Level) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.setLocked(l, v)
}

func (w *world) setLocked(l *simLine, v gpio.Level) {
	if old, ok := w.switches[l]; ok && old == v {
		return
	}
	w.switches[l] = v
	if err := l.setPull(v); err != nil {
		w.t.Errorf("world: %v", err)
	}
}

func (w *world) run() {
	defer close(w.done)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tk.C:
		}
		w.mu.Lock()
		if w.step != nil {
			w.step(w)
		}
		for l, v := range w.switches {
			got, err := l.pull()
			if err != nil {
				w.t.Errorf("world: %v", err)
				continue
			}
			if got != v {
				w.fixes++
				if err := l.setPull(v); err != nil {
					w.t.Errorf("world: %v", err)
				}
			}
		}
		w.mu.Unlock()
	}
}

// eventually polls cond every tick until it holds or d has passed.
func eventually(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(tick)
	}
}
