package contact_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/hearth-hub/hearth/drivers/contact"
	"github.com/hearth-hub/hearth/sim/gpiosim"
)

// BenchmarkContact_EdgeToEvent measures, on the real clock, the time from
// a simulated line changing (SetInput) to Run calling fn, with Debounce
// set to 0: the figure is the driver's own latency (wake-up, read,
// dispatch); a real contact adds its Debounce on top. It reports p50 and
// p99 in microseconds.
func BenchmarkContact_EdgeToEvent(b *testing.B) {
	p := gpiosim.NewPin("GPIO27", nil)
	p.SetInput(gpio.High)
	o := contact.DefaultOpts()
	o.Debounce = 0
	d, err := contact.New(p, &o)
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, func(contact.Event) { got <- time.Now() }) }()
	if err := p.BlockUntilWaiting(ctx); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	level := gpio.High
	b.ResetTimer()
	for range b.N {
		level = !level
		start := time.Now()
		p.SetInput(level)
		lat = append(lat, (<-got).Sub(start))
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e3 }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
