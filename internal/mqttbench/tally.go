package mqttbench

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// PayloadSize is the size of every fan-in message, as in the baseline.
const PayloadSize = 64

// payloadMagic marks a fan-in payload, so a stray message is not counted.
const payloadMagic = 0x4842 // "HB"

// EncodePayload fills p (PayloadSize bytes) with the publisher's index and
// the message's sequence number; the rest is padding.
func EncodePayload(p []byte, publisher, seq int) {
	binary.BigEndian.PutUint16(p[0:], payloadMagic)
	binary.BigEndian.PutUint16(p[2:], uint16(publisher))
	binary.BigEndian.PutUint32(p[4:], uint32(seq))
	for i := 8; i < len(p); i++ {
		p[i] = 'x'
	}
}

// DecodePayload is EncodePayload's inverse.
func DecodePayload(p []byte) (publisher, seq int, err error) {
	if len(p) != PayloadSize {
		return 0, 0, fmt.Errorf("payload of %d bytes, want %d", len(p), PayloadSize)
	}
	if binary.BigEndian.Uint16(p) != payloadMagic {
		return 0, 0, fmt.Errorf("payload does not start with the bench's mark %#x", payloadMagic)
	}
	return int(binary.BigEndian.Uint16(p[2:])), int(binary.BigEndian.Uint32(p[4:])), nil
}

// Tally counts a fan-in's deliveries: unique, duplicate and foreign
// (payloads that are not the bench's, or out of range).
type Tally struct {
	seen       [][]bool // [publisher][seq]
	Unique     int
	Duplicates int
	Foreign    int
}

// NewTally expects publishers × perPublisher messages.
func NewTally(publishers, perPublisher int) *Tally {
	t := &Tally{seen: make([][]bool, publishers)}
	for i := range t.seen {
		t.seen[i] = make([]bool, perPublisher)
	}
	return t
}

// Add counts one delivered payload and reports whether it was new.
func (t *Tally) Add(payload []byte) bool {
	pub, seq, err := DecodePayload(payload)
	if err != nil || pub >= len(t.seen) || seq >= len(t.seen[pub]) {
		t.Foreign++
		return false
	}
	if t.seen[pub][seq] {
		t.Duplicates++
		return false
	}
	t.seen[pub][seq] = true
	t.Unique++
	return true
}

// Expected is how many unique messages a lossless run delivers.
func (t *Tally) Expected() int {
	n := 0
	for _, s := range t.seen {
		n += len(s)
	}
	return n
}

// Lost is how many messages never arrived.
func (t *Tally) Lost() int { return t.Expected() - t.Unique }

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of d,
// which it sorts; zero for no samples.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	rank := int(float64(len(d))*p/100+0.999999999) - 1
	return d[max(0, min(rank, len(d)-1))]
}

// Median of xs (the mean of the middle two for an even count); xs is
// sorted in place. NaN-free input is assumed; zero for no values.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}
