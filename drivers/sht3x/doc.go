// Package sht3x drives the Sensirion SHT30, SHT31 and SHT35 humidity and
// temperature sensors (SHT3x-DIS) over I2C, in single-shot mode without
// clock stretching. It relies on the datasheet "Datasheet SHT3x-DIS"
// (Sensirion, version 5, May 2018): section 2.2 Table 4 for the maximum
// measurement and soft-reset durations, 4.3 Table 9 for the single-shot
// commands, 4.4 for the readout, 4.9 for the soft reset, 4.10 for the
// heater, 4.11 Tables 17-19 for the status register, 4.12 Table 20 for
// the CRC-8 that guards every 16-bit word, and 4.13 for the conversion of
// the raw words to degrees Celsius and percent relative humidity.
package sht3x
