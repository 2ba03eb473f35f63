package store_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/store"
	"github.com/hearth-hub/hearth/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if largeDir != "" {
		os.RemoveAll(largeDir)
	}
	os.Exit(code)
}

// procIO reads this process's I/O counters: write_bytes is what reached (or
// will reach) the block device, wchar what went through write(2).
func procIO(tb testing.TB) map[string]int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		tb.Skipf("no /proc/self/io: %v", err)
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		m[k], _ = strconv.ParseInt(v, 10, 64)
	}
	return m
}

// fsType returns the type of the filesystem holding dir, from /proc/mounts.
func fsType(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "unknown"
	}
	best, typ := "", "unknown"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.HasPrefix(dir, f[1]) && len(f[1]) > len(best) {
			best, typ = f[1], f[2]
		}
	}
	return typ
}

// house generates a realistic stream of hub events: 50 entities of 3
// attributes, numbers mostly, most events changing one attribute.
type house struct {
	rng   *rand.Rand
	temps [50]float64
	buf   []store.Change
}

var houseAttrs = [50][3]struct{ attr, typ, unit string }{}

func init() {
	for i := range houseAttrs {
		switch {
		case i < 35: // sensors
			houseAttrs[i] = [3]struct{ attr, typ, unit string }{
				{"temperature", store.TypeNumber, "°C"}, {"humidity", store.TypeNumber, "%"}, {"battery", store.TypeNumber, "%"}}
		case i < 43: // thermostats
			houseAttrs[i] = [3]struct{ attr, typ, unit string }{
				{"current", store.TypeNumber, "°C"}, {"target", store.TypeNumber, "°C"}, {"action", store.TypeEnum, ""}}
		default: // locks
			houseAttrs[i] = [3]struct{ attr, typ, unit string }{
				{"locked", store.TypeBool, ""}, {"battery", store.TypeNumber, "%"}, {"state", store.TypeEnum, ""}}
		}
	}
}

func (h *house) event(seq uint64) []store.Change {
	h.buf = h.buf[:0]
	e := h.rng.IntN(50)
	entity := fmt.Sprintf("sensor.room_%02d", e)
	now := time.Now()
	n := 1
	if h.rng.IntN(10) == 0 {
		n = 3
	}
	first := h.rng.IntN(3)
	for k := range n {
		a := houseAttrs[e][(first+k)%3]
		v := store.Value{Type: a.typ, Unit: a.unit}
		switch a.typ {
		case store.TypeNumber:
			h.temps[e] += h.rng.Float64() - 0.5
			v.Num = math.Round((20+h.temps[e])*100) / 100
		case store.TypeBool:
			v.Num = float64(h.rng.IntN(2))
		default:
			v.Text = [...]string{"idle", "heating", "cooling", "locked", "unlocked"}[h.rng.IntN(5)]
		}
		h.buf = append(h.buf, store.Change{Seq: seq, At: now, Entity: entity, Attr: a.attr, Value: v, Source: "hardware"})
	}
	return h.buf
}

// BenchmarkDB_Ingest measures sustained ingest and the bytes written per
// change, the final TRUNCATE checkpoint included. "default" appends as fast
// as it can with the default batching (commits then grow past BatchSize, up
// to what arrives while one commits); "500-per-commit" waits for each 500
// changes to commit, the batch size the byte target is set for. For steadier
// byte figures run longer: -benchtime=1000000x.
func BenchmarkDB_Ingest(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchIngest(b, 0) })
	b.Run("500-per-commit", func(b *testing.B) { benchIngest(b, 500) })
	// A quiet house: a few changes per BatchInterval. Per-commit costs
	// (state, meta and b-tree pages) dominate here.
	b.Run("10-per-commit", func(b *testing.B) { benchIngest(b, 10) })
}

func benchIngest(b *testing.B, perCommit int) {
	dir := b.TempDir()
	if typ := fsType(dir); typ == "tmpfs" || typ == "ramfs" {
		b.Logf("%s is on %s: write_bytes will not count disk writes", dir, typ)
	}
	opts := store.DefaultOptions()
	opts.CompactEvery = 0
	opts.Logger = quietLogger()
	db, err := store.Open(filepath.Join(dir, "hearth.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	h := &house{rng: rand.New(rand.NewPCG(1, 2))}
	before := procIO(b)
	start := time.Now()
	b.ResetTimer()
	n, sinceCommit := 0, 0
	for seq := uint64(1); n < b.N; seq++ {
		ev := h.event(seq)
		db.Append(ev)
		n += len(ev)
		if sinceCommit += len(ev); perCommit > 0 && sinceCommit >= perCommit {
			if err := db.WaitCommitted(ctx, seq); err != nil {
				b.Fatal(err)
			}
			sinceCommit = 0
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	after := procIO(b)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "changes/s")
	b.ReportMetric(float64(after["write_bytes"]-before["write_bytes"])/float64(n), "disk-B/change")
	b.ReportMetric(float64(after["wchar"]-before["wchar"])/float64(n), "wchar-B/change")
	st := db.Stats()
	b.ReportMetric(float64(st.ChangesWritten)/float64(max(st.Commits, 1)), "changes/commit")
}

var (
	largeOnce sync.Once
	largeDir  string
	largePath string
)

// largeStore is a store with a million rows of history, built once per run.
func largeStore(b *testing.B) string {
	largeOnce.Do(func() {
		var err error
		if largeDir, err = os.MkdirTemp("", "hearth-store-bench-"); err != nil {
			b.Fatal(err)
		}
		largePath = filepath.Join(largeDir, "hearth.db")
		start := time.Now()
		storetest.FillHistory(b, largePath, 1_000_000)
		fi, _ := os.Stat(largePath)
		b.Logf("filled 1,000,000 rows in %v: %d bytes, %.1f B/row", time.Since(start), fi.Size(), float64(fi.Size())/1e6)
	})
	if largePath == "" {
		b.Fatal("no large store")
	}
	return largePath
}

// BenchmarkDB_OpenLarge measures Open on a store with 1,000,000 history rows.
func BenchmarkDB_OpenLarge(b *testing.B) {
	path := largeStore(b)
	opts := store.DefaultOptions()
	opts.CompactEvery = 0
	opts.Logger = quietLogger()
	b.ResetTimer()
	for range b.N {
		db, err := store.Open(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkDB_HistoryLarge measures what the time-ordered history layout
// costs readers: one attribute out of 150 over a day of a 1M-row store.
func BenchmarkDB_HistoryLarge(b *testing.B) {
	path := largeStore(b)
	opts := store.DefaultOptions()
	opts.CompactEvery = 0
	opts.Logger = quietLogger()
	db, err := store.Open(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		step time.Duration
	}{{"raw", 0}, {"step=5m", 5 * time.Minute}} {
		b.Run(tc.name, func(b *testing.B) {
			q := store.HistoryQuery{Entity: storetest.Entity(7), Attr: "temperature",
				From: time.Now().Add(-24 * time.Hour), Step: tc.step}
			points := 0
			for range b.N {
				ss, err := db.History(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				points = len(ss[0].Points)
			}
			b.ReportMetric(float64(points), "points")
		})
	}
}
