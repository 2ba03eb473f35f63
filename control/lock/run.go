package lock

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-hub/hearth/drivers/bolt"
)

// Run reads the bolt's switches every PollEvery while no operation runs,
// so that a turn by hand is reported (Source "manual"); turns an open
// door ajar after Ajar; and relocks the bolt AutoRelock after an unlock
// once the door is closed, reporting each attempt to the audit hook. It
// returns nil when ctx ends, after an auto-relock it started has
// returned (ctx's end stops it). One Run at a time.
func (l *Lock) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.running {
		l.mu.Unlock()
		return errors.New("lock: Run is already running")
	}
	l.running = true
	l.mu.Unlock()
	var relocks sync.WaitGroup
	defer func() {
		relocks.Wait()
		l.mu.Lock()
		l.running, l.runWaiting = false, false
		l.pokeLocked()
		l.mu.Unlock()
	}()

	var nextPoll time.Time // zero: at once
	for {
		select {
		case <-l.kick:
		default:
		}
		l.mu.Lock()
		seen := l.kicks
		l.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if now := l.clock.Now(); l.bolt != nil && !now.Before(nextPoll) {
			l.poll()
			nextPoll = now.Add(l.cfg.PollEvery)
		}
		l.tick(ctx, &relocks)

		l.mu.Lock()
		until := l.deadlineLocked(nextPoll)
		var tc <-chan time.Time
		var t clockwork.Timer
		if !until.IsZero() {
			d := until.Sub(l.clock.Now())
			if d <= 0 {
				l.mu.Unlock()
				continue
			}
			// Made before Run shows as waiting, so that a test cannot
			// move a fake clock in between.
			t = l.clock.NewTimer(d)
			tc = t.Chan()
		}
		l.runWaiting, l.runSeen, l.runUntil = true, seen, until
		l.pokeLocked()
		l.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-tc:
		case <-l.kick:
		}
		if t != nil {
			t.Stop()
		}
		l.mu.Lock()
		l.runWaiting = false
		l.pokeLocked()
		l.mu.Unlock()
	}
}

// tick turns the door ajar and starts an auto-relock when they are due.
func (l *Lock) tick(ctx context.Context, relocks *sync.WaitGroup) {
	l.mu.Lock()
	now := l.clock.Now()
	if l.door == DoorOpen && !now.Before(l.openSince.Add(l.cfg.Ajar)) {
		l.door, l.source = DoorAjar, SourceDoor
		l.commitLocked()
	}
	due := l.relockDueLocked(now)
	l.mu.Unlock()
	l.deliver()
	if !due {
		return
	}
	rctx, cancel := context.WithCancelCause(ctx)
	if err := l.reserveIf(cancel, func() bool { return l.relockDueLocked(l.clock.Now()) }); err != nil {
		cancel(nil)
		return
	}
	relocks.Add(1)
	go func() {
		defer relocks.Done()
		defer cancel(nil)
		start := l.clock.Now()
		_ = l.moveReserved(rctx, opLock, SourceAutoRelock, func(err error) {
			l.mu.Lock()
			hook := l.audit
			l.mu.Unlock()
			if hook != nil {
				hook("lock", err, l.clock.Since(start))
			}
		})
	}()
}

// relockAtLocked is when the auto-relock is due, zero if it is not
// counting (off, not armed, or the door not known closed); l.mu is held.
func (l *Lock) relockAtLocked() time.Time {
	if !l.armed || l.relockFrom.IsZero() || !l.doorLetsRelockLocked() {
		return time.Time{}
	}
	return l.relockFrom.Add(l.cfg.AutoRelock)
}

// relockDueLocked: an auto-relock should start now; l.mu is held.
func (l *Lock) relockDueLocked(now time.Time) bool {
	at := l.relockAtLocked()
	return !l.busy && !at.IsZero() && !now.Before(at)
}

// deadlineLocked is when Run must look next, zero for when something
// happens; l.mu is held.
func (l *Lock) deadlineLocked(nextPoll time.Time) time.Time {
	var until time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (until.IsZero() || t.Before(until)) {
			until = t
		}
	}
	if l.bolt != nil {
		earliest(nextPoll)
	}
	if l.door == DoorOpen {
		earliest(l.openSince.Add(l.cfg.Ajar))
	}
	if !l.busy {
		earliest(l.relockAtLocked())
	}
	return until
}

// poll reads the bolt's switches, unless an operation runs (it reads
// them itself) or starts meanwhile.
func (l *Lock) poll() {
	l.mu.Lock()
	if l.busy {
		l.mu.Unlock()
		return
	}
	gen := l.gen
	l.mu.Unlock()
	pos, err := l.bolt.Position()
	l.mu.Lock()
	if l.gen == gen {
		l.senseLocked(pos, err)
		l.commitLocked()
	}
	l.mu.Unlock()
	l.deliver()
}

// senseLocked records a reading of the switches taken with no operation
// running; l.mu is held. A new position is a turn by hand; a failure, or
// recovery from one, with the bolt where it was, is the sensor's.
func (l *Lock) senseLocked(pos bolt.Position, err error) {
	switch {
	case err != nil:
		if l.posErr != nil && l.posErr.Error() == err.Error() {
			return
		}
		l.posErr, l.source = err, SourceSensor
		return
	case pos == l.pos:
		if l.posErr != nil {
			l.posErr, l.source = nil, SourceSensor
		}
		return
	}
	l.pos, l.posErr, l.source, l.note, l.doorNote = pos, nil, SourceManual, "", false
	if pos != bolt.Between {
		l.jam = "" // a later sensed end position
	}
}
