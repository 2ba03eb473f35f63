package i2csim

import "time"

// Tx is one transaction's size: bytes written, then bytes read.
type Tx struct{ W, R int }

// WireTime is how long transactions take on a bus clocked at hz: a START,
// the address byte and each data byte (9 clocks with the ACK), a repeated
// START and a second address byte when one transaction both writes and
// reads, and a STOP. Benchmarks set a driver's CPU against it.
func WireTime(hz int, txs ...Tx) time.Duration {
	bits := 0
	for _, tx := range txs {
		parts := 0
		if tx.W > 0 {
			parts++
		}
		if tx.R > 0 {
			parts++
		}
		bits += max(parts, 1)*(1+9) + 9*(tx.W+tx.R) + 1
	}
	return time.Duration(bits) * time.Second / time.Duration(hz)
}
