package sensorsim

import (
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/physic"
)

// Env is what a sensor measures; the house model implements it.
type Env interface {
	Temperature() physic.Temperature
	Humidity() physic.RelativeHumidity
	Pressure() physic.Pressure
}

// Fixed is an Env that does not change: for tests, or to freeze what a
// chip reads (SetEnv(Fixed{...})).
type Fixed struct {
	T physic.Temperature
	H physic.RelativeHumidity
	P physic.Pressure
}

var _ Env = Fixed{}

// Temperature implements Env.
func (f Fixed) Temperature() physic.Temperature { return f.T }

// Humidity implements Env.
func (f Fixed) Humidity() physic.RelativeHumidity { return f.H }

// Pressure implements Env.
func (f Fixed) Pressure() physic.Pressure { return f.P }

// InstantClock is a fake clock whose Sleep advances the clock instead of
// blocking. Given to a driver and to the chips it talks to, it makes the
// driver's waits free while the chips still see exactly the time the
// driver waited, so a driver that waits too little is caught. Timers,
// tickers and After behave as on clockwork's FakeClock: they need Advance.
type InstantClock struct {
	*clockwork.FakeClock
}

var _ clockwork.Clock = (*InstantClock)(nil)

// NewInstantClock returns an InstantClock at a fixed date, so that runs
// are reproducible.
func NewInstantClock() *InstantClock {
	return &InstantClock{clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
}

// Sleep advances the clock by d.
func (c *InstantClock) Sleep(d time.Duration) {
	if d > 0 {
		c.Advance(d)
	}
}
