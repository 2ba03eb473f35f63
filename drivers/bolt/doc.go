// Package bolt drives a motorised deadbolt: a DC motor behind an H-bridge
// (two inputs: extend, retract; DRV8833/L298N/TB6612-style, both inputs low
// = coast) and two limit switches that close at the ends of travel. The
// driver never energises both bridge inputs together (shoot-through or
// brake, depending on the bridge), switches the motor off on every exit
// path, and reports a position only from the switches: a bolt that does
// not reach its switch within the travel timeout is jammed. There is no
// datasheet; the bridge's truth table (IN1/IN2: 10 forward, 01 reverse, 00
// coast, 11 brake or short) is what the code relies on.
package bolt
