package mqttbench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestPayload_RoundTrip(t *testing.T) {
	p := make([]byte, PayloadSize)
	EncodePayload(p, 19, 4999)
	pub, seq, err := DecodePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	if pub != 19 || seq != 4999 {
		t.Fatalf("DecodePayload()=(%d, %d), want (19, 4999)", pub, seq)
	}
	if _, _, err := DecodePayload(p[:10]); err == nil || !strings.Contains(err.Error(), "10 bytes") {
		t.Fatalf("DecodePayload(10 bytes) err=%v, want one naming the size", err)
	}
	q := make([]byte, PayloadSize)
	if _, _, err := DecodePayload(q); err == nil || !strings.Contains(err.Error(), "mark") {
		t.Fatalf("DecodePayload(zeros) err=%v, want one about the mark", err)
	}
}

func TestTally_Add(t *testing.T) {
	tl := NewTally(2, 3)
	p := make([]byte, PayloadSize)
	add := func(pub, seq int) bool {
		EncodePayload(p, pub, seq)
		return tl.Add(p)
	}
	if !add(0, 0) || !add(0, 2) || !add(1, 1) {
		t.Fatal("Add of a first delivery = false, want true")
	}
	if add(0, 2) {
		t.Fatal("Add of a second delivery = true, want false")
	}
	add(2, 0)               // no such publisher
	add(1, 3)               // past the publisher's count
	tl.Add([]byte("stray")) // not the bench's
	if got, want := tl.Expected(), 6; got != want {
		t.Fatalf("Expected()=%d, want %d", got, want)
	}
	if got, want := tl.Unique, 3; got != want {
		t.Fatalf("Unique=%d, want %d", got, want)
	}
	if got, want := tl.Duplicates, 1; got != want {
		t.Fatalf("Duplicates=%d, want %d", got, want)
	}
	if got, want := tl.Foreign, 3; got != want {
		t.Fatalf("Foreign=%d, want %d", got, want)
	}
	if got, want := tl.Lost(), 3; got != want {
		t.Fatalf("Lost()=%d, want %d", got, want)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Microsecond}, {99, 99 * time.Microsecond}, {100, 100 * time.Microsecond}, {0.5, time.Microsecond}} {
		if got := Percentile(d, c.p); got != c.want {
			t.Errorf("Percentile(1..100 us, %v)=%v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile([]time.Duration{7, 3, 5}, 50); got != 5 {
		t.Errorf("Percentile({7,3,5}, 50)=%v, want 5", got)
	}
	if got := Percentile(nil, 99); got != 0 {
		t.Errorf("Percentile(nil)=%v, want 0", got)
	}
}

func TestMedian(t *testing.T) {
	if got, want := Median([]float64{3, 1, 2}), 2.0; got != want {
		t.Errorf("Median(3,1,2)=%v, want %v", got, want)
	}
	if got, want := Median([]float64{4, 1, 3, 2}), 2.5; got != want {
		t.Errorf("Median(4,1,3,2)=%v, want %v", got, want)
	}
	if got := Median(nil); got != 0 {
		t.Errorf("Median(nil)=%v, want 0", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	// A real line's shape, with a command name holding ") (" to fool a
	// parser that splits on spaces or on the first ')'.
	stat := "4242 (odd) (name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 9 0 100 12345678 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := ParseStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := 287 * 10 * time.Millisecond; got != want {
		t.Fatalf("ParseStatCPU()=%v, want %v (utime 250 + stime 37 ticks)", got, want)
	}
	for _, bad := range []string{"4242 no parens S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 0 0 0 0 0 u 37 0"} {
		if _, err := ParseStatCPU([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "proc stat:") {
			t.Errorf("ParseStatCPU(%q) err=%v, want a proc stat error", bad, err)
		}
	}
	// This process has run for a while: its own figure is positive.
	end := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(end) {
	}
	if d, err := ProcCPU(os.Getpid()); err != nil || d <= 0 {
		t.Fatalf("ProcCPU(self)=%v, %v; want > 0", d, err)
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\thearthd\nVmPeak:\t  99999 kB\nVmRSS:\t   25812 kB\nRssAnon:\t 10000 kB\n"
	got, err := ParseStatusRSS([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(25812 * 1024); got != want {
		t.Fatalf("ParseStatusRSS()=%d, want %d", got, want)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tlots kB\n"} {
		if _, err := ParseStatusRSS([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "proc status:") {
			t.Errorf("ParseStatusRSS(%q) err=%v, want a proc status error", bad, err)
		}
	}
	if n, err := ProcRSS(os.Getpid()); err != nil || n <= 0 {
		t.Fatalf("ProcRSS(self)=%d, %v; want > 0", n, err)
	}
}

func TestCommas(t *testing.T) {
	for _, c := range []struct {
		v    float64
		prec int
		want string
	}{{105836.4, 0, "105,836"}, {999, 0, "999"}, {1000, 0, "1,000"}, {23.904, 2, "23.90"}, {1234567.891, 1, "1,234,567.9"}, {-4500, 0, "-4,500"}} {
		if got := commas(c.v, c.prec); got != c.want {
			t.Errorf("commas(%v, %d)=%q, want %q", c.v, c.prec, got, c.want)
		}
	}
}

func TestResults_Rows(t *testing.T) {
	sample := func(rate, cpu1M float64, lost int, p99, kib float64) Sample {
		el := time.Second
		uniq := int(rate)
		f := FanInResult{Expected: uniq + lost, Unique: uniq, Elapsed: el, CPU: time.Duration(cpu1M * float64(uniq) / 1e6 * float64(time.Second))}
		return Sample{
			QoS0: f, QoS1: f,
			RTT:  RTTResult{P50: time.Duration(p99/2) * time.Microsecond, P99: time.Duration(p99) * time.Microsecond},
			Idle: IdleResult{Clients: 200, Before: 0, After: int64(kib * 1024 * 200)},
		}
	}
	r := &Results{
		Opts: Options{IdleClients: 200},
		// Hearth: one run lost a message; medians 110k msg/s, 14 s/1M (1.4×), p99 500 (2.5×), 30 KiB.
		Hearth:    []Sample{sample(110000, 14, 0, 500, 30), sample(100000, 14, 1, 500, 30), sample(120000, 14, 0, 500, 30)},
		Mosquitto: []Sample{sample(100000, 10, 0, 200, 1), sample(100000, 10, 0, 200, 1), sample(100000, 10, 0, 200, 1)},
	}
	want := map[string]bool{
		"QoS 0 fan-in delivered msg/s":               true,
		"QoS 0 fan-in lost / duplicates (worst run)": false,
		"broker CPU s per 1M msgs, QoS 1":            false,
		"round trip p99 µs":                          false,
		"RSS per idle client KiB (200 clients)":      true,
	}
	for _, row := range r.Rows() {
		w, ok := want[row.Metric]
		if !ok {
			continue
		}
		delete(want, row.Metric)
		if !row.HasTarget || row.Pass != w {
			t.Errorf("row %q: pass=%v (has target %v), want %v", row.Metric, row.Pass, row.HasTarget, w)
		}
	}
	if len(want) > 0 {
		t.Errorf("rows missing: %v", want)
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| QoS 0 fan-in delivered msg/s | 110,000 | 100,000 | 1.10× | ≥ 1.0× | PASS |", "| 0 lost | MISS |"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}
