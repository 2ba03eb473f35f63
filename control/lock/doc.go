// Package lock is a door lock's state machine: it drives a motorised
// deadbolt (or pulses an electric strike) on command, watches its limit
// switches and the door contact, and reports only what it has sensed. It
// runs on small hardware interfaces (Bolt, Strike, a door-contact
// function) and an injected clock, so the daemon wires it to the real
// drivers and the tests to the simulated house.
//
// # What it reports
//
// The bolt's state comes from its limit switches and nothing else,
// because a lock that says "locked" when it is not is worse than one
// that says it does not know:
//   - locked: the extended switch read closed; unlocked: the retracted
//     one did.
//   - locking, unlocking: a command is driving the motor (the reading
//     comes when it stops).
//   - jammed: the last command did not reach its switch within the
//     bolt's travel timeout. The bolt driver has switched the motor off.
//     Jammed holds until the switches show the bolt at an end it was not
//     at before (a person freed it) or a command succeeds, so that a jam
//     is not forgotten at the next poll of a bolt still stuck midway.
//   - unknown: between the switches with no command running (stopped by
//     a power cut, Halt, a cancelled command, a turn by hand), both
//     switches closed (a switch fault), or the switches could not be
//     read. Reason says which.
//
// "The last reading" is precise: every command ends with one, and while
// Run runs it reads the switches every PollEvery (default 250 ms: a turn
// by hand shows within a quarter second, and an I2C expander's bus is
// not kept busy). So State().Bolt is locked only if the extended switch
// read closed at the last reading, at most PollEvery ago, and no command
// has run since; likewise unlocked. A change seen by a poll is a turn by
// hand (Source "manual") if the bolt's position changed, else the
// sensor's (Source "sensor": a read failed or recovered).
//
// New reads the switches and the door and reports that (Source
// "startup"). It never moves the bolt: after a power cut mid-travel the
// bolt stays where it stopped, unknown, until a person or a command
// moves it. A restart does not arm the auto-relock either.
//
// A strike has no switch: its state is commanded, not sensed, and
// Reason says so. It is locked except while a release runs (unlocked for
// the pulse), which is what a fail-secure strike does with its coil off
// and on; the strike driver bounds the pulse and switches the coil off
// on every path, and the relay driver can read back its line. A
// fail-safe strike (locked while energised) cannot be driven this way.
// Only a door contact senses anything at a strike: that the door opened.
//
// # The door
//
// The door is closed or open as the daemon's debounced contact events
// (DoorChanged) say; ajar once open longer than Ajar (default 60 s: long
// enough to carry the shopping in, short enough to matter); unknown with
// no contact, or when reading it fails.
//
// # Rules
//
// The bolt is never thrown while the door contact says open or ajar: a
// bolt thrown into an open door stops it closing and strikes the frame.
// Lock reads the contact afresh and fails with ErrDoorOpen, moving
// nothing. A door that opens while the bolt is being thrown stops the
// motor before DoorChanged returns, and that Lock fails with ErrDoorOpen.
// Unlock ignores the door: withdrawing a bolt harms nothing. With the
// contact unreadable a closed door becomes unknown and a command still
// locks, since a failed sensor must not leave a house that cannot be
// locked; the auto-relock does not, since nobody is there to see the
// door. A door last seen open stays open until the contact says closed.
//
// One operation at a time: a Lock or Unlock while another runs fails at
// once with ErrBusy and changes nothing. Queueing would act later on a
// state the caller did not see (an Unlock queued behind a Lock undoes
// it); failing lets the caller decide, and the audit log records the
// refusal. The auto-relock takes the same slot, and does not start while
// a command runs. The one exception is Lock on a strike during a release:
// it ends the pulse early, since switching the coil off only makes the
// strike safe.
//
// Auto-relock (Config.AutoRelock, off by default; at least 5 s) relocks
// the bolt a set time after it was unlocked, by command or by hand, as a
// person expects of a door that locks behind them:
//   - it counts from the unlock if the door is closed, else from when
//     the door closes; a door that opens restarts the count when it
//     closes again. So a person carrying things through, or a second
//     person following, has the whole time after the door shuts, and the
//     bolt is never thrown at a door that just banged shut.
//   - any lock (by command or by hand), a jam, an unknown bolt or Halt
//     cancels it: there is nothing to relock, or the bolt is not where
//     automation should act. Another unlock arms it afresh.
//   - with a contact configured but unreadable it waits; with no contact
//     at all it counts from the unlock.
//   - each attempt calls the audit hook with action "lock", its error and
//     duration, so that it is audited like a command (the daemon chooses
//     the principal), before State shows the outcome and before any
//     other operation can start, so the audit log keeps the order. A
//     door that opens as it fires refuses it (ErrDoorOpen) and it waits
//     for the door to close again; one that opens mid-throw stops the
//     bolt, which is then unknown, and it is not retried.
//
// The ajar timer and the auto-relock run in Run, on the clock: without
// Run the lock still obeys commands and door events but does not poll,
// go ajar or relock.
//
// OnChange functions are called on every change of State, in order, one
// at a time, with no lock held, so they may call back into the Lock.
package lock
