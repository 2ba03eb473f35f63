package i2csim

import (
	"testing"
	"time"
)

func TestWireTime(t *testing.T) {
	// A 2-byte command, then a 6-byte read: (10+18+1) + (10+54+1) = 94 bits.
	if got, want := WireTime(400_000, Tx{W: 2}, Tx{R: 6}), 94*time.Second/400_000; got != want {
		t.Fatalf("WireTime()=%v, want %v", got, want)
	}
	// One write-then-read transaction: two address phases, 1+3 data bytes.
	if got, want := WireTime(400_000, Tx{W: 1, R: 3}), (2*10+9*4+1)*time.Second/400_000; got != want {
		t.Fatalf("WireTime()=%v, want %v", got, want)
	}
}
