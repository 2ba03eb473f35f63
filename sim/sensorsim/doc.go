// Package sensorsim holds simulated sensor chips (SHT3x, BME280, MCP9808)
// that answer on a simulated I2C bus (sim/i2csim) as the real parts do:
// the same commands and registers, real checksums, the datasheets' timing
// (a read too early is refused as the chip refuses it), and readings
// derived from what a house model says the air is like. Hearth's real
// drivers run against them unchanged.
package sensorsim
