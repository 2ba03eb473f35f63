package store_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/store"
)

func sec(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// pointsString renders points compactly for comparisons.
func pointsString(ps []store.Point) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s ", p.At.Sub(t0))
		if p.Value.Text != "" {
			fmt.Fprintf(&b, "%s", p.Value.Text)
		} else {
			fmt.Fprintf(&b, "%g", p.Value.Num)
		}
		if p.Min != 0 || p.Max != 0 {
			fmt.Fprintf(&b, "[%g,%g]", p.Min, p.Max)
		}
		if p.Count != 1 {
			fmt.Fprintf(&b, "x%d", p.Count)
		}
		b.WriteString("; ")
	}
	return b.String()
}

func MustHistory(tb testing.TB, db *store.DB, q store.HistoryQuery) []store.Series {
	tb.Helper()
	ss, err := db.History(context.Background(), q)
	if err != nil {
		tb.Fatalf("History(%+v)=%v", q, err)
	}
	return ss
}

func TestDB_History(t *testing.T) {
	db := MustOpen(t, tempPath(t), testOptions(t))
	var cs []store.Change
	for s := range 10 {
		cs = append(cs, num(uint64(s+1), sec(s), "sensor.hall", "temperature", float64(20+s), "°C"))
		if s%5 == 0 {
			cs = append(cs, num(uint64(s+1), sec(s), "sensor.hall", "humidity", float64(40+s), "%"))
		}
	}
	for i, m := range []struct {
		s    int
		mode string
	}{{0, "heat"}, {4, "idle"}, {8, "cool"}} {
		cs = append(cs, enum(uint64(20+i), sec(m.s), "thermostat.hall", "mode", m.mode))
	}
	for i, v := range []float64{1, 0, 1, 1} {
		cs = append(cs, store.Change{Seq: uint64(30 + i), At: sec(i), Entity: "lock.front", Attr: "locked",
			Value: store.Value{Type: store.TypeBool, Num: v}})
	}
	db.Append(cs)
	MustFlush(t, db)

	for _, tc := range []struct {
		name string
		q    store.HistoryQuery
		want map[string]string // attr -> points
	}{
		{"raw range, inclusive", store.HistoryQuery{Entity: "sensor.hall", Attr: "temperature", From: sec(2), To: sec(5)},
			map[string]string{"temperature": "2s 22; 3s 23; 4s 24; 5s 25; "}},
		{"bounds inside a millisecond", store.HistoryQuery{Entity: "sensor.hall", Attr: "temperature",
			From: sec(2).Add(time.Nanosecond), To: sec(5).Add(-time.Nanosecond)},
			map[string]string{"temperature": "3s 23; 4s 24; "}},
		{"all attributes", store.HistoryQuery{Entity: "sensor.hall", From: sec(4)},
			map[string]string{"humidity": "5s 45; ", "temperature": "4s 24; 5s 25; 6s 26; 7s 27; 8s 28; 9s 29; "}},
		{"limit keeps the earliest", store.HistoryQuery{Entity: "sensor.hall", Attr: "temperature", Limit: 2},
			map[string]string{"temperature": "0s 20; 1s 21; "}},
		{"enum raw", store.HistoryQuery{Entity: "thermostat.hall"},
			map[string]string{"mode": "0s heat; 4s idle; 8s cool; "}},
		{"step: mean, min, max, count", store.HistoryQuery{Entity: "sensor.hall", Attr: "temperature", Step: 5 * time.Second},
			map[string]string{"temperature": "0s 22[20,24]x5; 5s 27[25,29]x5; "}},
		{"step: enum keeps the last", store.HistoryQuery{Entity: "thermostat.hall", Step: 5 * time.Second},
			map[string]string{"mode": "0s idlex2; 5s cool; "}},
		{"step: bool mean", store.HistoryQuery{Entity: "lock.front", Step: time.Minute},
			map[string]string{"locked": "0s 0.75[0,1]x4; "}},
		{"step buckets are aligned to the epoch", store.HistoryQuery{Entity: "sensor.hall", Attr: "temperature",
			From: sec(3), Step: 4 * time.Second},
			map[string]string{"temperature": "0s 23[23,23]; 4s 25.5[24,27]x4; 8s 28.5[28,29]x2; "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := MustHistory(t, db, tc.q)
			if got, want := len(ss), len(tc.want); got != want {
				t.Fatalf("History()=%d series, want %d", got, want)
			}
			for _, s := range ss {
				if got, want := pointsString(s.Points), tc.want[s.Attr]; got != want {
					t.Fatalf("History() %s=%q, want %q", s.Attr, got, want)
				}
				if s.Entity != tc.q.Entity {
					t.Fatalf("Series.Entity=%q, want %q", s.Entity, tc.q.Entity)
				}
			}
		})
	}

	t.Run("series carry type and unit", func(t *testing.T) {
		s := MustHistory(t, db, store.HistoryQuery{Entity: "sensor.hall", Attr: "temperature", Limit: 1})[0]
		if s.Type != store.TypeNumber || s.Unit != "°C" || s.Points[0].Value.Unit != "°C" {
			t.Fatalf("History()=%+v, want number °C", s)
		}
		if got, want := s.Points[0].At, sec(0); !got.Equal(want) {
			t.Fatalf("At=%v, want %v", got, want)
		}
	})

	t.Run("unknown entity", func(t *testing.T) {
		if ss := MustHistory(t, db, store.HistoryQuery{Entity: "sensor.none"}); len(ss) != 0 {
			t.Fatalf("History()=%+v, want none", ss)
		}
	})

	t.Run("bad step", func(t *testing.T) {
		if _, err := db.History(context.Background(), store.HistoryQuery{Entity: "sensor.hall", Step: time.Millisecond}); err == nil {
			t.Fatalf("History(Step: 1ms)=nil error, want one")
		}
	})

	t.Run("more values in a millisecond than keys", func(t *testing.T) {
		cs := make([]store.Change, 5000)
		for i := range cs {
			cs[i] = num(uint64(100+i), sec(100), "sensor.burst", "value", float64(i), "")
		}
		db.Append(cs)
		MustFlush(t, db)
		ps := MustHistory(t, db, store.HistoryQuery{Entity: "sensor.burst"})[0].Points
		if got, want := len(ps), len(cs); got != want {
			t.Fatalf("History()=%d points, want %d", got, want)
		}
		// 4096 fit the millisecond; the rest spill into the next one.
		for i, p := range ps {
			want := sec(100)
			if i >= 4096 {
				want = want.Add(time.Millisecond)
			}
			if p.Value.Num != float64(i) || !p.At.Equal(want) {
				t.Fatalf("point %d=%v at %v, want %d at %v", i, p.Value.Num, p.At, i, want)
			}
		}
	})

	t.Run("clock going back", func(t *testing.T) {
		// Values stamped before ones already stored still find a key each.
		db.Append([]store.Change{
			num(50, sec(3), "sensor.hall", "temperature", 123, "°C"),
			num(51, sec(3), "sensor.hall", "temperature", 124, "°C"),
		})
		MustFlush(t, db)
		s := MustHistory(t, db, store.HistoryQuery{Entity: "sensor.hall", Attr: "temperature", From: sec(3), To: sec(3)})[0]
		if got, want := pointsString(s.Points), "3s 23; 3s 123; 3s 124; "; got != want {
			t.Fatalf("History()=%q, want %q", got, want)
		}
	})
}

func TestDB_Compact(t *testing.T) {
	ctx := context.Background()
	opts := testOptions(t)
	now := t0
	opts.Now = func() time.Time { return now }
	db := MustOpen(t, tempPath(t), opts)
	min := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	var cs []store.Change
	for i := range 20 {
		cs = append(cs, num(uint64(i+1), min(i), "sensor.hall", "temperature", float64(i), "°C"))
	}
	cs = append(cs,
		enum(30, min(1), "thermostat.hall", "mode", "heat"),
		enum(31, min(3), "thermostat.hall", "mode", "idle"),
		enum(32, min(7), "thermostat.hall", "mode", "cool"),
		num(40, t0.Add(8*24*time.Hour), "sensor.hall", "temperature", 30, "°C"),
		num(41, t0.Add(8*24*time.Hour+time.Second), "sensor.hall", "temperature", 31, "°C"),
	)
	db.Append(cs)
	MustFlush(t, db)
	compact := func(t *testing.T, at time.Time, want store.CompactStats) {
		t.Helper()
		now = at // the request to the writer orders this write before its read
		got, err := db.Compact(ctx)
		if err != nil {
			t.Fatalf("Compact()=%v", err)
		}
		if got != want {
			t.Fatalf("Compact()=%+v, want %+v", got, want)
		}
	}
	temps := store.HistoryQuery{Entity: "sensor.hall", Attr: "temperature"}
	const day = 24 * time.Hour

	t.Run("folds raw rows past RawRetention", func(t *testing.T) {
		// Only whole buckets older than the cut-off (t0+10m) are folded.
		compact(t, min(10).Add(7*day+2*time.Minute), store.CompactStats{Downsampled: 4, DeletedRaw: 13})
		s := MustHistory(t, db, temps)[0]
		want := "0s 2[0,4]x5; 5m0s 7[5,9]x5; "
		for i := 10; i < 20; i++ {
			want += fmt.Sprintf("%s %d; ", time.Duration(i)*time.Minute, i)
		}
		want += "192h0m0s 30; 192h0m1s 31; "
		if got := pointsString(s.Points); got != want {
			t.Fatalf("History()=%q, want %q", got, want)
		}
		if got, want := pointsString(MustHistory(t, db, store.HistoryQuery{Entity: "thermostat.hall"})[0].Points),
			"0s idlex2; 5m0s cool; "; got != want {
			t.Fatalf("enum History()=%q, want %q", got, want)
		}
	})

	t.Run("is idempotent", func(t *testing.T) {
		compact(t, min(10).Add(7*day+2*time.Minute), store.CompactStats{})
	})

	t.Run("step spans downsampled and raw rows", func(t *testing.T) {
		q := temps
		q.Step, q.To = 10*time.Minute, min(30)
		if got, want := pointsString(MustHistory(t, db, q)[0].Points),
			"0s 4.5[0,9]x10; 10m0s 14.5[10,19]x10; "; got != want {
			t.Fatalf("History()=%q, want %q", got, want)
		}
	})

	t.Run("DownsampledRetention deletes old buckets", func(t *testing.T) {
		// Everything raw is folded; only the buckets of day 8 are young enough.
		compact(t, t0.Add(366*day), store.CompactStats{Downsampled: 3, DeletedRaw: 12, DeletedDownsampled: 6})
		if got, want := pointsString(MustHistory(t, db, temps)[0].Points), "192h0m0s 30.5[30,31]x2; "; got != want {
			t.Fatalf("History()=%q, want %q", got, want)
		}
	})
}

func TestDB_Compact_chunks(t *testing.T) {
	// More rows than one compaction transaction takes, so a bucket is split
	// across two and must be merged.
	opts := testOptions(t)
	opts.Now = func() time.Time { return t0.Add(30 * 24 * time.Hour) }
	db := MustOpen(t, tempPath(t), opts)
	const rows = 25000
	cs := make([]store.Change, rows)
	for i := range cs {
		cs[i] = num(uint64(i+1), t0.Add(time.Duration(i)*100*time.Millisecond), "sensor.fast", "value", float64(i), "")
	}
	db.Append(cs)
	MustFlush(t, db)
	st, err := db.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.DeletedRaw, int64(rows); got != want {
		t.Fatalf("Compact().DeletedRaw=%d, want %d", got, want)
	}
	ps := MustHistory(t, db, store.HistoryQuery{Entity: "sensor.fast"})[0].Points
	if got, want := len(ps), 9; got != want { // 3000 values per 5 minutes
		t.Fatalf("History()=%d buckets, want %d", got, want)
	}
	for i, p := range ps {
		lo, n := 3000*i, min(3000, rows-3000*i)
		want := store.Point{At: t0.Add(time.Duration(i) * 5 * time.Minute), Count: n,
			Min: float64(lo), Max: float64(lo + n - 1),
			Value: store.Value{Type: store.TypeNumber, Num: float64(lo) + float64(n-1)/2}}
		if !p.At.Equal(want.At) || p.Count != want.Count || p.Min != want.Min || p.Max != want.Max ||
			math.Abs(p.Value.Num-want.Value.Num) > 1e-9 {
			t.Fatalf("bucket %d=%+v, want %+v", i, p, want)
		}
	}
}
