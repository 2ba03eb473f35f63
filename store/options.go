package store

import (
	"fmt"
	"log/slog"
	"time"
)

// Options tune a DB. Start from DefaultOptions. Fields whose zero value would
// be meaningless (BatchInterval, BatchSize, MaxPending, RawRetention,
// DownsampleStep) take their default when zero; DownsampledRetention and
// CompactEvery mean "forever" and "never" when zero.
type Options struct {
	BatchInterval        time.Duration // [1s] group-commit interval
	BatchSize            int           // [500] commit as soon as this many changes are pending
	MaxPending           int           // [50000] Append blocks while this many are pending (back-pressure)
	RawRetention         time.Duration // [7*24h] raw history kept this long, then downsampled
	DownsampleStep       time.Duration // [5m] bucket of the downsampled history (mean, min, max, count, last)
	DownsampledRetention time.Duration // [365*24h]; 0 keeps downsampled rows forever
	CompactEvery         time.Duration // [1h] how often the writer runs Compact by itself; 0 never

	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now (wall clock, for retention)

	// OnTick, if set, is called by the writer goroutine every time round its
	// loop, at least every BatchInterval even when idle, so a watchdog can
	// tell a wedged writer. It must return quickly.
	OnTick func()
}

// DefaultOptions returns the options Hearth runs with.
func DefaultOptions() Options {
	return Options{
		BatchInterval:        time.Second,
		BatchSize:            500,
		MaxPending:           50000,
		RawRetention:         7 * 24 * time.Hour,
		DownsampleStep:       5 * time.Minute,
		DownsampledRetention: 365 * 24 * time.Hour,
		CompactEvery:         time.Hour,
	}
}

func (o Options) resolve() (Options, error) {
	d := DefaultOptions()
	if o.BatchInterval == 0 {
		o.BatchInterval = d.BatchInterval
	}
	if o.BatchSize == 0 {
		o.BatchSize = d.BatchSize
	}
	if o.MaxPending == 0 {
		o.MaxPending = d.MaxPending
	}
	if o.RawRetention == 0 {
		o.RawRetention = d.RawRetention
	}
	if o.DownsampleStep == 0 {
		o.DownsampleStep = d.DownsampleStep
	}
	switch {
	case o.BatchInterval < 0:
		return o, fmt.Errorf("options: BatchInterval %v is negative", o.BatchInterval)
	case o.BatchSize < 0:
		return o, fmt.Errorf("options: BatchSize %d is negative", o.BatchSize)
	case o.MaxPending < o.BatchSize:
		return o, fmt.Errorf("options: MaxPending %d is below BatchSize %d", o.MaxPending, o.BatchSize)
	case o.RawRetention < 0:
		return o, fmt.Errorf("options: RawRetention %v is negative", o.RawRetention)
	case o.DownsampleStep < time.Second || o.DownsampleStep%time.Millisecond != 0:
		// Buckets are stored by their start in milliseconds.
		return o, fmt.Errorf("options: DownsampleStep %v must be >= 1s and whole milliseconds", o.DownsampleStep)
	case o.DownsampledRetention < 0:
		return o, fmt.Errorf("options: DownsampledRetention %v is negative", o.DownsampledRetention)
	case o.CompactEvery < 0:
		return o, fmt.Errorf("options: CompactEvery %v is negative", o.CompactEvery)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
