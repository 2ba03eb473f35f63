// Package bme280 drives the Bosch Sensortec BME280 temperature, pressure
// and humidity sensor over I2C in forced mode. It relies on the datasheet
// BST-BME280-DS002 (revision 1.6): 3.3.3 (forced mode), 3.4 and 3.4.4
// (measurement flow, IIR filter), 4.2.2 Table 16 (the calibration words,
// with dig_H4 and dig_H5 packed in nibbles), 4.2.3 (the integer
// compensation: 32-bit for temperature and humidity, 64-bit for
// pressure), 5.3 Table 18 (memory map and reset values), 5.4.1-5.4.9 (the
// id, reset, ctrl_hum, status, ctrl_meas, config and data registers; a
// ctrl_hum change takes effect only at the next ctrl_meas write), 6.2
// (I2C writes as register/value pairs, burst reads), Table 1 (start-up
// time) and 9.1 (maximum measurement time).
package bme280
