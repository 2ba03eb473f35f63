// Package sim is the simulated house: a room whose temperature follows a
// thermal model, sensors that answer on a simulated I2C bus as the real
// chips do, relays, a door and a motorised deadbolt on simulated GPIO
// lines, and fault injection for all of them. Hearth's real drivers run
// on it unchanged: only what is below the driver is simulated.
package sim
