package lock_test

import (
	"testing"

	"github.com/hearth-hub/hearth/control/lock"
)

// BenchmarkLock_State is the cost of reading the state, which the
// daemon's API and the hub do on every request.
func BenchmarkLock_State(b *testing.B) {
	r := newRig(b, rigOpts{pos: 1, noRun: true})
	l := r.lock()
	b.ReportAllocs()
	for b.Loop() {
		if l.State().Bolt != lock.Locked {
			b.Fatal("not locked")
		}
	}
}

// BenchmarkLock_Poll is one of Run's polls of an unmoved bolt on
// simulated lines: two switch reads and the comparison, four times a
// second per lock on a Pi.
func BenchmarkLock_Poll(b *testing.B) {
	r := newRig(b, rigOpts{pos: 1, noRun: true})
	l := r.lock()
	b.ReportAllocs()
	for b.Loop() {
		l.Poll()
	}
}
