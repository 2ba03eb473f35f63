package hub_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/hub"
)

func TestLiveness_Overdue(t *testing.T) {
	t.Run("StoppedBeat", func(t *testing.T) {
		var l hub.Liveness
		fast := l.Register("thermostat", time.Second)
		l.Register("history", time.Hour)
		fast.Tick()
		if got := l.Overdue(time.Now()); len(got) != 0 {
			t.Fatalf("Overdue(now)=%v, want none", got)
		}
		// Within twice the promise: not yet.
		if got := l.Overdue(time.Now().Add(1500 * time.Millisecond)); len(got) != 0 {
			t.Fatalf("Overdue(now+1.5s)=%v, want none", got)
		}
		// The thermostat loop stopped ticking 5s ago.
		if got, want := strings.Join(l.Overdue(time.Now().Add(5*time.Second)), ","), "thermostat"; got != want {
			t.Fatalf("Overdue(now+5s)=%v, want %v", got, want)
		}
		if got, want := strings.Join(l.Overdue(time.Now().Add(3*time.Hour)), ","), "history,thermostat"; got != want {
			t.Fatalf("Overdue(now+3h)=%v, want %v (sorted)", got, want)
		}
	})

	t.Run("TickResets", func(t *testing.T) {
		var l hub.Liveness
		b := l.Register("lock", time.Second)
		late := time.Now().Add(5 * time.Second)
		if got := l.Overdue(late); len(got) != 1 {
			t.Fatalf("Overdue(+5s)=%v, want [lock]", got)
		}
		b.Tick()
		// A tick moves the deadline: what was late relative to the old tick
		// is compared with the new one.
		if got := l.Overdue(time.Now().Add(time.Second)); len(got) != 0 {
			t.Fatalf("Overdue(+1s after Tick)=%v, want none", got)
		}
	})

	t.Run("Done", func(t *testing.T) {
		var l hub.Liveness
		b := l.Register("relay", time.Second)
		other := l.Register("broker", time.Second)
		b.Done()
		if got, want := strings.Join(l.Overdue(time.Now().Add(time.Minute)), ","), "broker"; got != want {
			t.Fatalf("Overdue() after Done=%v, want %v", got, want)
		}
		b.Done() // twice is harmless
		other.Done()
		if got := l.Overdue(time.Now().Add(time.Minute)); len(got) != 0 {
			t.Fatalf("Overdue()=%v, want none", got)
		}
	})

	t.Run("HubLiveness", func(t *testing.T) {
		h := hub.New(hub.Options{})
		h.Liveness().Register("x", time.Second)
		if got, want := len(h.Liveness().Overdue(time.Now().Add(time.Minute))), 1; got != want {
			t.Fatalf("len(Overdue())=%d, want %d", got, want)
		}
		shared := new(hub.Liveness)
		if got, want := hub.New(hub.Options{Liveness: shared}).Liveness(), shared; got != want {
			t.Fatalf("Liveness()=%p, want the one in Options %p", got, want)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		var l hub.Liveness
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				b := l.Register("loop", time.Hour)
				for range 200 {
					b.Tick()
					l.Overdue(time.Now())
				}
				b.Done()
			})
		}
		wg.Wait()
		if got := l.Overdue(time.Now().Add(24 * time.Hour)); len(got) != 0 {
			t.Fatalf("Overdue()=%v, want none", got)
		}
	})
}
