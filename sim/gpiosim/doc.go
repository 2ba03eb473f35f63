// Package gpiosim is the simulated house's GPIO: lines that implement
// periph's gpio.PinIO, and the parts that hang off them: a relay coil, a
// door's reed switch, a motorised deadbolt with its limit switches, and an
// MCP23017 expander that answers on a simulated I2C bus with the chip's
// register map. Hearth's drivers drive these as they drive real lines.
//
// Time comes from a clockwork.Clock. Levels that change on their own
// (bounces, a moving bolt reaching a switch) are scheduled on the clock and
// applied when the line is next looked at, so with a fake clock a test
// decides exactly when each change happens; Pin.BlockUntilWaiting tells a
// test that a driver has handled everything a line did.
package gpiosim
