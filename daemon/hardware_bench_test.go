package daemon

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/hub"
	"github.com/hearth-hub/hearth/sim"
)

// BenchmarkHardware_ContactEdgeToEvent times a door opening or closing on
// the simulated line to the hub event it becomes, through the contact
// driver and its entity loop. The debounce is set to 1 ms; the figures
// reported exclude it (a real config adds its debounce, 30 ms by default).
func BenchmarkHardware_ContactEdgeToEvent(b *testing.B) {
	const debounce = time.Millisecond
	cfg := testConfig(b)
	cfg.Hardware.Parts = []PartConfig{{Name: "door", Driver: "contact", Pin: sim.LineDoor, Debounce: Duration(debounce), Entity: "contact.front_door"}}
	d, err := New(cfg, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	r := startServe(b, d)
	defer r()
	h := d.be.(*simBackend).House
	sub := d.Hub().Bus().Subscribe("bench", 1024, func(ev *hub.Event) bool { return ev.Entity == "contact.front_door" })
	defer sub.Close()

	var lat []time.Duration
	var buf []hub.Event
	closed := true
	for b.Loop() {
		start := time.Now()
		if closed {
			h.Door.Open()
		} else {
			h.Door.Close()
		}
		closed = !closed
		for got := false; !got; {
			select {
			case <-sub.Ready():
			case <-time.After(5 * time.Second):
				b.Fatal("no event within 5s")
			}
			buf, _ = sub.Drain(buf)
			got = len(buf) > 0
		}
		lat = append(lat, time.Since(start)-debounce)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// startServe runs d.Serve until the returned function is called.
func startServe(tb testing.TB, d *Daemon) func() {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		tb.Fatalf("Serve()=%v", err)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	}
}

// BenchmarkControl_CommandToRelay times a command through the hub (checks,
// authorisation, audit, the owner) to the relay's line changing level on
// the simulated house.
func BenchmarkControl_CommandToRelay(b *testing.B) {
	cfg := testConfig(b)
	cfg.Hardware.Parts = []PartConfig{{Name: "porch", Driver: "relay", Pin: sim.LineStrike, Entity: "switch.porch"}}
	d, err := New(cfg, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	stop := startServe(b, d)
	defer stop()
	line := d.be.(*simBackend).House.Line(sim.LineStrike)
	ctx := context.Background()
	var lat []time.Duration
	on := false
	for b.Loop() {
		on = !on
		start := time.Now()
		_, err := d.Hub().Do(ctx, hub.Command{Entity: "switch.porch", Action: "set", Args: map[string]hub.Value{"on": hub.Bool(on)}, Principal: hub.Owner, Source: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if l, _ := line.Output(); bool(l) != on {
			b.Fatal("the line did not follow the command")
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
