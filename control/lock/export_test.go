package lock

import (
	"context"
	"time"
)

// Quiet is what a test needs to know to move a fake clock safely.
type Quiet struct {
	RunIdle bool      // Run waits, having seen every change
	Until   time.Time // Run's timer, zero if none
	Busy    bool      // an operation holds the slot
	Started uint64    // operations that have taken the slot so far
	Changed <-chan struct{}
}

// Quiet reports l's activity now. Run is idle if it waits, has seen
// every change, and its timer has not expired.
func (l *Lock) Quiet() Quiet {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return Quiet{
		RunIdle: l.running && l.runWaiting && l.runSeen == l.kicks && (l.runUntil.IsZero() || l.runUntil.After(now)),
		Until:   l.runUntil, Busy: l.busy, Started: l.started, Changed: l.watch,
	}
}

// WaitQuiet waits until Run is idle and cond, if not nil, holds.
func (l *Lock) WaitQuiet(ctx context.Context, cond func(Quiet) bool) (Quiet, error) {
	for {
		q := l.Quiet()
		if q.RunIdle && (cond == nil || cond(q)) {
			return q, nil
		}
		select {
		case <-q.Changed:
		case <-ctx.Done():
			return q, ctx.Err()
		}
	}
}

// Poll is one of Run's polls.
func (l *Lock) Poll() { l.poll() }
