// Package mcp23017 drives the Microchip MCP23017, a 16-bit I/O expander on
// I2C (datasheet DS20001952C), as relay HATs and input boards use it. Each
// of its 16 lines is a periph gpio.PinIO, so the relay and contact drivers
// run on an expander line as on a SoC line. The driver relies on: the
// register map with IOCON.BANK = 0, the power-on default (Table 3-1, Table
// 3-5 for the POR values); the A/B pair of a register read in one
// transaction, which works in both Sequential mode and Byte mode (§3.2.1);
// IODIR 1 = input (§3.5.1); IPOL inverting inputs (§3.5.2); IOCON's BANK
// bit and unimplemented bit 0 (§3.5.6); GPPU, a 100 kΩ pull-up and no
// pull-down (§3.5.7); GPIO reading the pins (§3.5.10); OLAT holding the
// output latches, writable while the line is still an input (§3.5.11). The
// INT pins are optional on boards, so edges are found by polling GPIO.
package mcp23017
