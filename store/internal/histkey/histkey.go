// Package histkey is the layout of the history table's time key, shared by
// the store and its test helpers so that both write rows the store can read.
package histkey

// Shift is how far the unix millisecond is shifted left: the low bits count
// values within one millisecond (4096 of them), and the key still fits a
// SQLite 8-byte varint until the year 2248.
const Shift = 12

// Mask selects the counter bits.
const Mask = 1<<Shift - 1

// Make returns the key of the n-th value in millisecond ms.
func Make(ms, n int64) int64 { return ms<<Shift | n&Mask }

// Millis returns the unix millisecond a key stands for.
func Millis(key int64) int64 { return key >> Shift }

// Range returns the smallest and largest keys of millisecond ms.
func Range(ms int64) (lo, hi int64) { return ms << Shift, ms<<Shift | Mask }
