// Package strike pulses an electric door strike or a solenoid bolt through
// a relay: energised for a fixed time, then off. Strikes and solenoids are
// rated for intermittent duty (a continuously energised coil overheats), so
// the pulse is bounded and the relay is switched off on every exit path.
// Fail-secure strikes unlock while energised; fail-safe ones lock: which
// one is wired is the caller's concern, the driver only times the pulse.
package strike
