//go:build vmtest

package guest

import (
	"errors"
	"testing"

	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/drivers/relay"
)

func TestRelay_DrivesTheLine(t *testing.T) {
	for _, tc := range []struct {
		name      string
		line      string
		activeLow bool
		readBack  bool
	}{
		{name: "active-high", line: lineRelayHigh},
		{name: "active-low", line: lineRelayLow, activeLow: true},
		{name: "active-high read-back", line: lineRelayHigh, readBack: true},
		{name: "active-low read-back", line: lineRelayLow, activeLow: true, readBack: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := mustLine(t, tc.line)
			off, on := gpio.Low, gpio.High
			if tc.activeLow {
				off, on = on, off
			}
			// Undriven, the line floats to the ON level: New must drive it.
			l.mustSetPull(t, on)
			if got := l.mustValue(t); got != on {
				t.Fatalf("before New: value=%v, want the pull's %v", got, on)
			}

			d, err := relay.New(l.pin, &relay.Opts{ActiveLow: tc.activeLow, ReadBack: tc.readBack})
			if got, want := l.mustValue(t), off; got != want {
				t.Fatalf("after New (err %v): value=%v, want OFF level %v", err, got, want)
			}
			l.mustBeOutput(t)
			// gpioioctl's Read() on an output re-requests it as a pulled-up
			// input, so read-back cannot be done on these lines: New may
			// refuse it (ErrUnsupported), relay left OFF, or skip it, and
			// then every step below must leave the line an output.
			if tc.readBack && err != nil {
				if !errors.Is(err, errors.ErrUnsupported) {
					t.Fatalf("New with ReadBack on a gpioioctl line: err=%v, want nil or ErrUnsupported", err)
				}
				t.Logf("%s relay: New refused read-back (%v), line left OFF (%v) and an output", tc.name, err, off)
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if rb, ok := any(d).(interface{ ReadsBack() bool }); ok && tc.readBack && rb.ReadsBack() {
				t.Fatal("ReadsBack()=true on a gpioioctl line, which cannot read an output")
			}
			if d.On() {
				t.Fatal("On()=true after New")
			}

			check := func(step string, wantOn bool) {
				t.Helper()
				want := off
				if wantOn {
					want = on
				}
				if got := l.mustValue(t); got != want {
					t.Fatalf("%s: value=%v, want %v", step, got, want)
				}
				if got := d.On(); got != wantOn {
					t.Fatalf("%s: On()=%v, want %v", step, got, wantOn)
				}
				l.mustBeOutput(t)
			}
			for _, step := range []struct {
				name string
				do   func() error
				on   bool
			}{
				{"Set(true)", func() error { return d.Set(true) }, true},
				{"Set(true) again", func() error { return d.Set(true) }, true},
				{"Set(false)", func() error { return d.Set(false) }, false},
				{"Set(true) before Off", func() error { return d.Set(true) }, true},
				{"Off()", d.Off, false},
				{"Set(true) before Halt", func() error { return d.Set(true) }, true},
				{"Halt()", d.Halt, false},
			} {
				if err := step.do(); err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				check(step.name, step.on)
			}
			note := ""
			if tc.readBack {
				note = ", read-back skipped and the line never turned into an input"
			}
			t.Logf("%s relay: OFF=%v ON=%v seen by the kernel through every step%s", tc.name, off, on, note)
		})
	}
}
