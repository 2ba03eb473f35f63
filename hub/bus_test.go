package hub_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/hub"
)

func numberEvent(seq uint64, id hub.ID) hub.Event {
	return hub.Event{Seq: seq, Entity: id, Source: "hardware",
		Changes: []hub.Change{{Attr: "current", Old: hub.Number(20, "°C"), New: hub.Number(20.5, "°C")}}}
}

// waitDone fails the test if done is not closed in a generous time: it
// catches a publisher that blocks, it does not measure speed.
func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return: it blocked", what)
	}
}

func TestBus_Publish(t *testing.T) {
	t.Run("NeverBlocks", func(t *testing.T) {
		var b hub.Bus
		var overflows atomic.Int64
		var gotName string
		var gotQueue int
		b.OnOverflow = func(sub string, queue int) {
			overflows.Add(1)
			gotName, gotQueue = sub, queue
		}
		stuck := b.Subscribe("stuck", 8, nil) // never drained until the end
		const n = 100_000
		done := make(chan struct{})
		go func() {
			defer close(done)
			ev := numberEvent(0, "sensor.hall")
			for i := range n {
				ev.Seq = uint64(i + 1)
				b.Publish(&ev)
			}
		}()
		waitDone(t, done, "Publish to a subscriber that never drains")

		if got, want := b.Published(), uint64(n); got != want {
			t.Fatalf("Published()=%d, want %d", got, want)
		}
		st := b.Stats()
		if got, want := len(st), 1; got != want {
			t.Fatalf("len(Stats())=%d, want %d", got, want)
		}
		if got, want := st[0], (hub.SubStats{Name: "stuck", Queued: 8, Limit: 8, Dropped: n - 8}); got != want {
			t.Fatalf("Stats()=%+v, want %+v", got, want)
		}
		if got, want := overflows.Load(), int64(1); got != want {
			t.Fatalf("OnOverflow calls=%d, want %d (once per burst, not per event)", got, want)
		}
		if gotName != "stuck" || gotQueue != 8 {
			t.Fatalf("OnOverflow(%q, %d), want (%q, %d)", gotName, gotQueue, "stuck", 8)
		}

		evs, dropped := stuck.Drain(nil)
		if got, want := dropped, uint64(n-8); got != want {
			t.Fatalf("Drain() dropped=%d, want %d", got, want)
		}
		if got, want := len(evs), 8; got != want {
			t.Fatalf("len(Drain())=%d, want %d", got, want)
		}
		for i, ev := range evs {
			if got, want := ev.Seq, uint64(i+1); got != want {
				t.Fatalf("events[%d].Seq=%d, want %d (the oldest are kept)", i, got, want)
			}
		}
		if _, dropped := stuck.Drain(evs); dropped != 0 {
			t.Fatalf("second Drain() dropped=%d, want 0: the count is since the last drain", dropped)
		}
		if got, want := stuck.Stats().Dropped, uint64(n-8); got != want {
			t.Fatalf("Stats().Dropped=%d, want %d (the total)", got, want)
		}
		if got, want := stuck.Stats().Delivered, uint64(8); got != want {
			t.Fatalf("Stats().Delivered=%d, want %d", got, want)
		}

		// A drain ends the burst: the next overflow is reported again, once.
		ev := numberEvent(0, "sensor.hall")
		for range 8 {
			b.Publish(&ev)
		}
		if got, want := overflows.Load(), int64(1); got != want {
			t.Fatalf("OnOverflow calls within the limit=%d, want %d", got, want)
		}
		for range 100 {
			b.Publish(&ev)
		}
		if got, want := overflows.Load(), int64(2); got != want {
			t.Fatalf("OnOverflow calls after a second burst=%d, want %d", got, want)
		}
	})

	t.Run("OverflowPerSubscriber", func(t *testing.T) {
		var b hub.Bus
		var mu sync.Mutex
		calls := map[string]int{}
		b.OnOverflow = func(sub string, _ int) {
			mu.Lock()
			calls[sub]++
			mu.Unlock()
		}
		slow := b.Subscribe("slow", 2, nil)
		fast := b.Subscribe("fast", 1000, nil)
		ev := numberEvent(1, "sensor.hall")
		for range 10 {
			b.Publish(&ev)
		}
		if got, want := fmt.Sprint(calls), "map[slow:1]"; got != want {
			t.Fatalf("OnOverflow calls=%s, want %s", got, want)
		}
		if _, d := fast.Drain(nil); d != 0 {
			t.Fatalf("fast subscriber dropped %d, want 0", d)
		}
		if _, d := slow.Drain(nil); d != 8 {
			t.Fatalf("slow subscriber dropped %d, want 8", d)
		}
	})

	t.Run("QueueHoldsACopy", func(t *testing.T) {
		var b hub.Bus
		sub := b.Subscribe("s", 4, nil)
		ev := numberEvent(7, "sensor.hall")
		b.Publish(&ev)
		ev.Seq, ev.Entity = 8, "sensor.other"
		evs := drainAll(t, sub)
		if got, want := evs[0].Seq, uint64(7); got != want {
			t.Fatalf("Seq=%d, want %d", got, want)
		}
	})

	t.Run("Ready", func(t *testing.T) {
		var b hub.Bus
		sub := b.Subscribe("s", 4, nil)
		select {
		case <-sub.Ready():
			t.Fatalf("Ready before any event")
		default:
		}
		ev := numberEvent(1, "sensor.hall")
		b.Publish(&ev)
		b.Publish(&ev)
		select {
		case <-sub.Ready():
		default:
			t.Fatalf("Ready not signalled after Publish")
		}
		if got, want := len(drainAll(t, sub)), 2; got != want {
			t.Fatalf("events=%d, want %d", got, want)
		}
	})

	t.Run("MinimumLimit", func(t *testing.T) {
		var b hub.Bus
		sub := b.Subscribe("s", 0, nil)
		if got, want := sub.Stats().Limit, 1; got != want {
			t.Fatalf("Limit=%d, want %d", got, want)
		}
		if got, want := sub.Name(), "s"; got != want {
			t.Fatalf("Name()=%q, want %q", got, want)
		}
	})
}

// TestBus_Delivery proves that a subscriber that drains, while within its
// limit, gets every event of every publisher in that publisher's order.
func TestBus_Delivery(t *testing.T) {
	const publishers, per = 4, 20_000
	var b hub.Bus
	sub := b.Subscribe("store", publishers*per, nil)

	stop := make(chan struct{})
	type result struct {
		next    [publishers]uint64
		n       int
		dropped uint64
		err     error
	}
	resc := make(chan result, 1)
	go func() {
		var r result
		var buf []hub.Event
		take := func() {
			var d uint64
			buf, d = sub.Drain(buf)
			r.dropped += d
			for _, ev := range buf {
				p, i := ev.Seq/per, ev.Seq%per
				if r.err == nil && (p >= publishers || i != r.next[p]) {
					r.err = fmt.Errorf("event %d: publisher %d index %d, want index %d", r.n, p, i, r.next[p])
				}
				if p < publishers {
					r.next[p] = i + 1
				}
				r.n++
			}
		}
		for {
			select {
			case <-sub.Ready():
				take()
			case <-stop:
				take()
				resc <- r
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			ev := numberEvent(0, hub.ID(fmt.Sprintf("sensor.p%d", p)))
			for i := range per {
				ev.Seq = uint64(p*per + i)
				b.Publish(&ev)
			}
		})
	}
	wg.Wait()
	close(stop)
	r := <-resc
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got, want := r.n, publishers*per; got != want {
		t.Fatalf("events received=%d, want %d", got, want)
	}
	if got, want := r.dropped, uint64(0); got != want {
		t.Fatalf("dropped=%d, want %d", got, want)
	}
	for p, n := range r.next {
		if got, want := n, uint64(per); got != want {
			t.Fatalf("publisher %d: last index+1=%d, want %d", p, got, want)
		}
	}
	if got, want := sub.Stats().Delivered, uint64(publishers*per); got != want {
		t.Fatalf("Delivered=%d, want %d", got, want)
	}
}

func TestBus_Subscribe(t *testing.T) {
	t.Run("Filter", func(t *testing.T) {
		var b hub.Bus
		all := b.Subscribe("all", 16, nil)
		locks := b.Subscribe("locks", 16, func(ev *hub.Event) bool { return ev.Entity.Kind() == "lock" })
		for i, id := range []hub.ID{"lock.front", "sensor.hall", "lock.back", "thermostat.x"} {
			ev := numberEvent(uint64(i+1), id)
			b.Publish(&ev)
		}
		if got, want := len(drainAll(t, all)), 4; got != want {
			t.Fatalf("unfiltered events=%d, want %d", got, want)
		}
		evs := drainAll(t, locks)
		if got, want := fmt.Sprintf("%s %s %d", evs[0].Entity, evs[len(evs)-1].Entity, len(evs)), "lock.front lock.back 2"; got != want {
			t.Fatalf("filtered events=%s, want %s", got, want)
		}
		// Filtered-out events count neither as queued nor as dropped.
		if got, want := locks.Stats(), (hub.SubStats{Name: "locks", Limit: 16, Delivered: 2}); got != want {
			t.Fatalf("Stats()=%+v, want %+v", got, want)
		}
	})

	t.Run("Close", func(t *testing.T) {
		var b hub.Bus
		a := b.Subscribe("a", 16, nil)
		c := b.Subscribe("c", 16, nil)
		ev := numberEvent(1, "sensor.hall")
		b.Publish(&ev)
		c.Close()
		ev.Seq = 2
		b.Publish(&ev)
		// What was queued before Close can still be drained; nothing after.
		evs := drainAll(t, c)
		if got, want := len(evs), 1; got != want {
			t.Fatalf("closed subscriber events=%d, want %d", got, want)
		}
		b.Publish(&ev)
		if got, want := len(drainAll(t, c)), 0; got != want {
			t.Fatalf("events after Close=%d, want %d", got, want)
		}
		if got, want := len(drainAll(t, a)), 3; got != want {
			t.Fatalf("other subscriber events=%d, want %d", got, want)
		}
		st := b.Stats()
		if got, want := len(st), 1; got != want || st[0].Name != "a" {
			t.Fatalf("Stats()=%+v, want only %q", st, "a")
		}
		c.Close() // twice is harmless
	})

	t.Run("CloseDuringPublish", func(t *testing.T) {
		// The filter runs inside Publish, after it has picked its
		// subscribers: closing there is a Close racing a Publish, made
		// deterministic.
		var b hub.Bus
		var sub *hub.Subscription
		sub = b.Subscribe("s", 16, func(*hub.Event) bool { sub.Close(); return true })
		ev := numberEvent(1, "sensor.hall")
		b.Publish(&ev)
		if got, want := len(drainAll(t, sub)), 0; got != want {
			t.Fatalf("events delivered to a subscriber closed during Publish=%d, want %d", got, want)
		}
	})

	t.Run("ConcurrentSubscribeClose", func(t *testing.T) {
		var b hub.Bus
		stay := b.Subscribe("stay", 1<<20, nil)
		done := make(chan struct{})
		var published atomic.Int64
		go func() {
			defer close(done)
			ev := numberEvent(1, "sensor.hall")
			for range 20_000 {
				b.Publish(&ev)
				published.Add(1)
			}
		}()
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				for j := range 200 {
					s := b.Subscribe(fmt.Sprintf("tmp%d_%d", i, j), 4, nil)
					s.Drain(nil)
					_ = b.Stats()
					s.Close()
				}
			})
		}
		wg.Wait()
		waitDone(t, done, "Publish during Subscribe/Close")
		if got, want := len(drainAll(t, stay)), int(published.Load()); got != want {
			t.Fatalf("events=%d, want %d", got, want)
		}
		if got, want := len(b.Stats()), 1; got != want {
			t.Fatalf("len(Stats())=%d, want %d", got, want)
		}
	})
}

func TestSubscription_Drain(t *testing.T) {
	t.Run("NoAllocsWhenWarm", func(t *testing.T) {
		var b hub.Bus
		sub := b.Subscribe("s", 1024, func(ev *hub.Event) bool { return ev.Entity != "" })
		ev := numberEvent(1, "sensor.hall")
		var buf []hub.Event
		round := func() {
			for range 64 {
				b.Publish(&ev)
			}
			var dropped uint64
			buf, dropped = sub.Drain(buf)
			if len(buf) != 64 || dropped != 0 {
				panic(fmt.Sprintf("Drain()=%d events, %d dropped, want 64, 0", len(buf), dropped))
			}
		}
		// Both buffers of the pair must reach full size first.
		round()
		round()
		if got, want := testing.AllocsPerRun(100, round), 0.0; got != want {
			t.Fatalf("allocs per publish+drain round=%v, want %v", got, want)
		}
	})

	t.Run("ClearsTheOldBatch", func(t *testing.T) {
		var b hub.Bus
		sub := b.Subscribe("s", 16, nil)
		ev := numberEvent(1, "sensor.hall")
		b.Publish(&ev)
		first, _ := sub.Drain(nil)
		old := first[:1]
		b.Publish(&ev)
		if _, _ = sub.Drain(first); old[0].Changes != nil {
			t.Fatalf("the batch passed back still holds its events' Changes")
		}
	})
}
