// Package relay drives a relay (or one channel of a relay board or HAT) from
// a GPIO output line: energised at High, or at Low for the opto-isolated
// boards that are active-low. It puts the line at the safe level (relay off)
// the moment it is created, and can read the line back after each write to
// catch a relay output that does not follow (a shorted line, a board with
// contact feedback whose relay did not switch). There is no datasheet: a
// relay input is a level, and the only timing it has (operate and release
// times of 5-15 ms) is the caller's concern.
package relay
