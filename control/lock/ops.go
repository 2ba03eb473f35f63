package lock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-hub/hearth/drivers/bolt"
	"github.com/hearth-hub/hearth/drivers/strike"
)

// Lock throws the bolt and returns once its extended switch has closed.
// It fails at once with ErrBusy while another operation runs, and with
// ErrDoorOpen, moving nothing, while the door contact says open or ajar
// (it reads the contact afresh first). A door that opens while the bolt
// moves stops it: ErrDoorOpen. A bolt that misses its switch fails with
// an error wrapping ErrJammed and bolt.ErrJammed, and the state is
// Jammed. Other errors are the bolt's.
//
// With a strike, Lock ends a running release early (the strike relocks
// when its coil is off) and returns once the coil is off; otherwise
// there is nothing to do. The door rule applies to it too.
func (l *Lock) Lock(ctx context.Context) error {
	if l.strike != nil {
		return l.strikeLock(ctx)
	}
	return l.move(ctx, opLock, SourceCommand)
}

// Unlock withdraws the bolt and returns once its retracted switch has
// closed, or releases the strike and returns at the end of its pulse. It
// fails at once with ErrBusy while another operation runs. The door does
// not matter: withdrawing a bolt cannot harm an open door.
func (l *Lock) Unlock(ctx context.Context) error {
	if l.strike != nil {
		return l.release(ctx)
	}
	return l.move(ctx, opUnlock, SourceCommand)
}

// reserve takes the operation slot, or fails with ErrBusy.
func (l *Lock) reserve(cancel context.CancelCauseFunc) error {
	return l.reserveIf(cancel, nil)
}

// reserveIf takes the operation slot if it is free and ok, if not nil,
// says yes (it is called with l.mu held), or fails with ErrBusy.
func (l *Lock) reserveIf(cancel context.CancelCauseFunc, ok func() bool) error {
	l.cmdMu.Lock()
	defer l.cmdMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy || ok != nil && !ok() {
		return ErrBusy
	}
	l.busy, l.cancel, l.opDone = true, cancel, make(chan struct{})
	l.doorStop, l.stopErr = false, nil
	l.gen++
	l.started++
	l.pokeLocked()
	return nil
}

// releaseLocked gives the slot back; l.mu is held.
func (l *Lock) releaseLocked() {
	l.busy, l.op, l.cancel = false, opNone, nil
	close(l.opDone)
	l.gen++
	l.kickLocked()
}

// haltCause is what the running operation's context is cancelled with
// by Halt: the driver's own ErrHalted.
func (l *Lock) haltCause() error {
	if l.bolt != nil {
		return bolt.ErrHalted
	}
	return strike.ErrHalted
}

func (l *Lock) move(ctx context.Context, op opKind, src string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if err := l.reserve(cancel); err != nil {
		return err
	}
	return l.moveReserved(ctx, op, src, nil)
}

// moveReserved runs a bolt operation that holds the slot. finish, if not
// nil, is called with the outcome while the slot is still held, so that
// no other operation starts before the outcome is recorded.
func (l *Lock) moveReserved(ctx context.Context, op opKind, src string, finish func(error)) error {
	if op == opLock {
		l.readDoor()
	}
	l.mu.Lock()
	if op == opLock && (l.door == DoorOpen || l.door == DoorAjar) {
		l.mu.Unlock()
		if finish != nil {
			finish(ErrDoorOpen)
		}
		l.mu.Lock()
		l.note, l.doorNote, l.source = "door open: not locking", true, src
		l.releaseLocked()
		l.commitLocked()
		l.mu.Unlock()
		l.deliver()
		return ErrDoorOpen
	}
	// From here a door opening cancels ctx and halts the motor.
	l.op, l.note, l.doorNote, l.source = op, "", false, src
	l.commitLocked()
	l.mu.Unlock()
	l.deliver()

	start := l.clock.Now()
	var err error
	to := bolt.Extended
	if op == opLock {
		err = l.bolt.Extend(ctx)
	} else {
		to = bolt.Retracted
		err = l.bolt.Retract(ctx)
	}
	took := l.clock.Since(start)
	pos, perr := l.bolt.Position()

	l.mu.Lock()
	doorStop, stopErr := l.doorStop, l.stopErr
	l.mu.Unlock()
	jammed := errors.Is(err, bolt.ErrJammed)
	res := err
	switch {
	case err == nil:
	case jammed:
		res = fmt.Errorf("%w: %w", ErrJammed, err)
	case doorStop:
		res = fmt.Errorf("%w while locking: %w", ErrDoorOpen, errors.Join(err, stopErr))
	}
	if finish != nil {
		finish(res)
	}

	l.mu.Lock()
	defer func() {
		l.commitLocked()
		l.mu.Unlock()
		l.deliver()
	}()
	l.releaseLocked()
	if err == nil || perr == nil && pos != bolt.Between && pos != l.pos {
		l.jam = "" // a success, or a new end position whatever the error
	}
	if perr == nil {
		l.pos = pos
	}
	l.posErr, l.source = perr, src
	switch {
	case err == nil:
	case jammed:
		l.jam = fmt.Sprintf("jammed: bolt did not reach the %s switch in %s", to, took.Round(100*time.Millisecond))
	case doorStop:
		l.note = "stopped: the door opened while locking"
	case errors.Is(err, bolt.ErrHalted):
		l.note = "stopped: halted"
	case ctx.Err() != nil:
		l.note = "stopped: command cancelled"
	default:
		l.note = verb(op) + " failed: " + err.Error()
	}
	return res
}

func verb(op opKind) string {
	if op == opLock {
		return "lock"
	}
	return "unlock"
}

// release pulses the strike.
func (l *Lock) release(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if err := l.reserve(cancel); err != nil {
		return err
	}
	l.mu.Lock()
	l.op, l.note, l.doorNote, l.source = opUnlock, "", false, SourceCommand
	l.commitLocked()
	l.mu.Unlock()
	l.deliver()

	err := l.strike.Release(ctx)

	l.mu.Lock()
	l.releaseLocked()
	l.source = SourceCommand
	switch {
	case errors.Is(err, strike.ErrHalted):
		l.note = "strike: release ended early"
	case err != nil:
		l.note = "strike: release failed: " + err.Error()
	}
	l.commitLocked()
	l.mu.Unlock()
	l.deliver()
	return err
}

// strikeLock ends a running release: the strike relocks with its coil off.
func (l *Lock) strikeLock(ctx context.Context) error {
	l.readDoor()
	l.cmdMu.Lock()
	l.mu.Lock()
	if l.door == DoorOpen || l.door == DoorAjar {
		l.note, l.doorNote, l.source = "door open: not locking", true, SourceCommand
		l.commitLocked()
		l.mu.Unlock()
		l.cmdMu.Unlock()
		l.deliver()
		return ErrDoorOpen
	}
	var done chan struct{}
	if l.busy {
		l.cancel(strike.ErrHalted)
		done = l.opDone
	}
	l.mu.Unlock()
	var err error
	if done != nil {
		err = l.strike.Halt()
	}
	l.cmdMu.Unlock()
	if done == nil || err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
