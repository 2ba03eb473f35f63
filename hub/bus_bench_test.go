package hub_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hearth-hub/hearth/hub"
)

// benchQueue is each benchmark subscriber's queue: large enough that four
// drainers sharing a core with the publisher ride out being descheduled for
// ~10 ms at full speed (at 64 Ki, 1 run in ~10 on a loaded 2-core VM
// dropped), small enough (128 Ki events, ~13 MB per buffer) not to matter.
const benchQueue = 1 << 17

// drainers subscribes n store-like subscribers, each drained in batches,
// with buffer reuse, by its own goroutine. stop ends them after a last
// drain and returns the total events received and dropped.
func drainers(bus *hub.Bus, n int) (stop func() (received, dropped uint64)) {
	var received, dropped atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		sub := bus.Subscribe(fmt.Sprintf("drain%d", i), benchQueue, nil)
		wg.Go(func() {
			var buf []hub.Event
			var sum uint64 // touch every event as a real subscriber would
			take := func() {
				var d uint64
				buf, d = sub.Drain(buf)
				for i := range buf {
					sum += buf[i].Seq
				}
				received.Add(uint64(len(buf)))
				dropped.Add(d)
			}
			for {
				select {
				case <-sub.Ready():
					take()
				case <-done:
					take()
					_ = sum
					sub.Close()
					return
				}
			}
		})
	}
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return received.Load(), dropped.Load()
	}
}

func reportRate(b *testing.B, subs int, received, dropped uint64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(dropped)/float64(b.N), "dropped/op")
	if want := uint64(subs) * uint64(b.N); received+dropped != want {
		b.Fatalf("received %d + dropped %d, want %d", received, dropped, want)
	}
}

func BenchmarkBus_Publish4Subscribers(b *testing.B) {
	var bus hub.Bus
	stop := drainers(&bus, 4)
	ev := numberEvent(1, "thermostat.living_room") // built once: the bus's own cost only
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(&ev)
	}
	received, dropped := stop()
	reportRate(b, 4, received, dropped)
}

func BenchmarkHub_Update(b *testing.B) {
	h := hub.New(hub.Options{})
	const entities = 50
	ids := make([]hub.ID, entities)
	for i := range ids {
		ids[i] = hub.ID(fmt.Sprintf("sensor.room_%d", i))
		mustRegister(b, h, hub.Entity{ID: ids[i], Attrs: []hub.AttrSpec{
			{Name: "current", Type: hub.TypeNumber, Unit: "°C"},
			{Name: "humidity", Type: hub.TypeNumber, Unit: "%"},
		}}, map[string]hub.Value{"current": hub.Number(20, "°C"), "humidity": hub.Number(40, "%")})
	}
	// Two readings to alternate between, so that every Update changes one
	// attribute and publishes one event. The maps are the caller's, built
	// once.
	readings := [2]map[string]hub.Value{
		{"current": hub.Number(20.5, "°C")},
		{"current": hub.Number(20, "°C")},
	}
	stop := drainers(h.Bus(), 4)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		seq, err := h.Update(ids[i%entities], "hardware", "", readings[(i/entities)%2])
		if err != nil || seq == 0 {
			b.Fatalf("Update()=%d,%v", seq, err)
		}
		i++
	}
	received, dropped := stop()
	reportRate(b, 4, received, dropped)
}
