package store

import (
	"errors"
	"time"
)

// Value types, as in Value.Type.
const (
	TypeNumber = "number"
	TypeEnum   = "enum"
	TypeBool   = "bool"
	TypeString = "string"
	TypeTime   = "time"
)

// Value is an attribute's value in the store's own terms.
type Value struct {
	Type string  // "number", "enum", "bool", "string", "time"
	Num  float64 // number; bool as 0/1
	Text string  // enum and string values; time as RFC 3339 with nanoseconds
	Unit string  // number's unit, may be ""
}

// numeric reports whether values of type t are kept in Num: they are
// averaged when downsampled, the others keep their last value.
func numeric(t string) bool { return t == TypeNumber || t == TypeBool }

// Change is one attribute's new value, from one hub event.
type Change struct {
	Seq    uint64 // the hub's event sequence number (several Changes may share one Seq)
	At     time.Time
	Entity string // "number.away_temp"
	Attr   string // "value"
	Value  Value
	Source string // "api", "hardware", ... (kept in the state table only)
}

// AuditRow is one command and its outcome.
type AuditRow struct {
	ID                                int64
	At                                time.Time
	Principal, Source, Entity, Action string
	Args                              string // JSON object, as given
	Outcome                           string // "pending", "ok", "failed", "rejected", "denied"
	Error                             string
	Duration                          time.Duration
	Critical                          bool
}

// AuditQuery selects audit rows. Zero fields do not filter; Since and Until
// are inclusive; BeforeID pages backwards; Limit 0 means 100.
type AuditQuery struct {
	Entity, Principal string
	Since, Until      time.Time
	BeforeID          int64
	Limit             int
}

// HistoryQuery selects history. From and To are inclusive; a zero From or To
// leaves that end open.
type HistoryQuery struct {
	Entity string
	Attr   string // "" = all attributes of the entity
	From   time.Time
	To     time.Time
	Step   time.Duration // 0: raw points; otherwise >= 1s buckets aligned to the Unix epoch
	Limit  int           // points per series, the earliest kept; 0 = 10000
}

// Series is one attribute's history. Type and Unit are the latest seen.
type Series struct {
	Entity, Attr, Type, Unit string
	Points                   []Point
}

// Point is one raw value or one bucket of values.
type Point struct {
	At       time.Time // the value's time (to the millisecond), or the bucket's start
	Value    Value     // raw points: the value; aggregated: Num = mean (numbers, bools) or Text = last (others)
	Min, Max float64   // aggregated numeric points only
	Count    int       // 1 for a raw point; how many raw values an aggregated point stands for
}

// CompactStats says what one Compact did.
type CompactStats struct {
	Downsampled        int64 // downsampled rows written (new or merged)
	DeletedRaw         int64 // raw rows folded into them and deleted
	DeletedDownsampled int64 // downsampled rows past DownsampledRetention deleted
}

// Stats are the writer's counters, for metrics.
type Stats struct {
	Commits, CommitErrors, ChangesWritten, AuditWritten uint64
	Pending                                             int
	LastCommit                                          time.Time
	LastCommitDuration                                  time.Duration
	LastError                                           string
	DurableCommits                                      uint64
}

// Errors for errors.Is. Open's errors name the path and what was found.
var (
	ErrNotSQLite   = errors.New("not an SQLite database")
	ErrForeign     = errors.New("SQLite database of another application")
	ErrNewerSchema = errors.New("schema newer than this build knows")
	ErrCorrupt     = errors.New("database is corrupt")
	ErrClosed      = errors.New("store is closed")
)
