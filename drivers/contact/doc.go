// Package contact reads a two-state contact on a GPIO input line: a door or
// window reed switch, a limit switch, a push button. It debounces in
// software with an injected clock: a level counts once it has held for the
// debounce time, so a burst of bounces is one change. Edges come from the
// line's edge detection (periph's WaitForEdge: the GPIO character device on
// Linux, polling on an MCP23017), with a periodic re-read so that a missed
// edge is caught. There is no datasheet; reed switches bounce for well under
// a millisecond to a few milliseconds, buttons for up to ~20 ms, hence the
// 30 ms default.
package contact
