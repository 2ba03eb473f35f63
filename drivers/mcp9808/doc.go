// Package mcp9808 drives the Microchip MCP9808 digital temperature sensor
// over I2C. It relies on the datasheet DS25095A: 4.0 (register pointer
// and two-byte register reads with a repeated START), 5.1 (register map),
// 5.1.1 (CONFIG, its shutdown bit), 5.1.3 and Equation 5-1 (the ambient
// temperature register: alert flags in bits 15-13, a 13-bit two's
// complement temperature in bits 12-0, negative values included), 5.1.4
// and 5.1.5 (manufacturer ID 0x0054, device ID 0x04), 5.1.6 (resolution
// register) and 5.2.4 (conversion time at each resolution). The datasheet
// writes the negative branch of Equation 5-1 as 256 - value; as its text
// says, the register is two's complement, so the value is value - 256,
// which is what this driver computes.
package mcp9808
