package mqttbench

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Options configure a benchmark run; zero fields take the shapes.
type Options struct {
	Hearthd         string // the hearthd binary
	Mosquitto       string // Debian's mosquitto binary
	MosquittoPasswd string
	TmpDir          string // where the brokers' state directories go

	Reps        int // runs per broker, alternating [3]
	Publishers  int // [20]
	QoS0N       int // messages per publisher at QoS 0 [20000]
	QoS1N       int // messages per publisher at QoS 1 [5000]
	Window      int // unacknowledged QoS 1 messages per publisher [100]
	RTTWarm     int // [200]
	RTTN        int // [5000]
	IdleClients int // [200]
	Settle      time.Duration
	Progress    io.Writer // one line per load; io.Discard if nil
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Reps, 3)
	def(&o.Publishers, 20)
	def(&o.QoS0N, 20000)
	def(&o.QoS1N, 5000)
	def(&o.Window, 100)
	def(&o.RTTWarm, 200)
	def(&o.RTTN, 5000)
	def(&o.IdleClients, 200)
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Sample is one run of every load against one broker.
type Sample struct {
	Idle       IdleResult
	QoS0, QoS1 FanInResult
	RTT        RTTResult
}

// Results are every run's samples, per broker.
type Results struct {
	Opts      Options
	Hearth    []Sample
	Mosquitto []Sample
}

// Run starts each broker afresh for every run, alternating which goes
// first, and runs the loads against it.
func Run(o Options) (*Results, error) {
	o.defaults()
	res := &Results{Opts: o}
	starts := map[string]func() (*Process, error){
		"hearth": func() (*Process, error) { return StartHearth(o.Hearthd, o.TmpDir, o.Publishers) },
		"mosquitto": func() (*Process, error) {
			return StartMosquitto(o.Mosquitto, o.MosquittoPasswd, o.TmpDir, o.Publishers)
		},
	}
	for r := range o.Reps {
		order := []string{"hearth", "mosquitto"}
		if r%2 == 1 {
			order = []string{"mosquitto", "hearth"}
		}
		for _, name := range order {
			p, err := starts[name]()
			if err != nil {
				return nil, fmt.Errorf("run %d: %w", r+1, err)
			}
			s, err := runLoads(p, o, r+1)
			cerr := p.Close()
			if err != nil {
				return nil, fmt.Errorf("run %d, %s: %w", r+1, name, err)
			}
			if cerr != nil {
				return nil, fmt.Errorf("run %d, %s: clean up: %w", r+1, name, cerr)
			}
			if name == "hearth" {
				res.Hearth = append(res.Hearth, s)
			} else {
				res.Mosquitto = append(res.Mosquitto, s)
			}
		}
	}
	return res, nil
}

func runLoads(p *Process, o Options, run int) (Sample, error) {
	var s Sample
	var err error
	say := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "run %d %-9s "+format+"\n", append([]any{run, p.Name}, args...)...)
	}
	if s.Idle, err = RunIdle(p.Target, o.IdleClients, o.Settle); err != nil {
		return s, errors.Join(err, p.Alive())
	}
	say("idle: %d clients, RSS %.1f -> %.1f MiB, %.1f KiB each", s.Idle.Clients, mib(s.Idle.Before), mib(s.Idle.After), s.Idle.PerClient()/1024)
	for _, f := range []struct {
		qos byte
		n   int
		out *FanInResult
	}{{0, o.QoS0N, &s.QoS0}, {1, o.QoS1N, &s.QoS1}} {
		if *f.out, err = RunFanIn(p.Target, FanIn{QoS: f.qos, PerPublisher: f.n, Window: o.Window}); err != nil {
			return s, errors.Join(err, p.Alive())
		}
		r := *f.out
		say("qos %d fan-in: %d/%d delivered, %d lost, %d dup, %.0f msg/s, cpu %.2f s (%.2f s per 1M)",
			f.qos, r.Unique, r.Expected, r.Lost(), r.Duplicates, r.Rate(), r.CPU.Seconds(), r.CPUPerMillion())
	}
	if s.RTT, err = RunRoundTrip(p.Target, o.RTTWarm, o.RTTN); err != nil {
		return s, errors.Join(err, p.Alive())
	}
	say("round trip: p50 %d us, p99 %d us", s.RTT.P50.Microseconds(), s.RTT.P99.Microseconds())
	return s, p.Alive()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// metric pulls one number out of a sample.
type metric func(Sample) float64

func medianOf(ss []Sample, m metric) float64 {
	xs := make([]float64, len(ss))
	for i, s := range ss {
		xs[i] = m(s)
	}
	return Median(xs)
}

func maxOf(ss []Sample, m metric) float64 {
	v := 0.0
	for _, s := range ss {
		v = max(v, m(s))
	}
	return v
}

// Row is one line of the report.
type Row struct {
	Metric       string
	Hearth, Mosq string
	Ratio        string
	Target       string
	Pass         bool
	HasTarget    bool
}

// Rows computes the report: medians over the runs, the ratio of Hearth to
// mosquitto, and each issue target's PASS or MISS.
func (r *Results) Rows() []Row {
	h, m := r.Hearth, r.Mosquitto
	num := func(v float64, prec int) string { return commas(v, prec) }
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	var rows []Row
	rate := func(name string, f func(Sample) FanInResult) {
		mt := func(s Sample) float64 { return f(s).Rate() }
		hv, mv := medianOf(h, mt), medianOf(m, mt)
		rows = append(rows, Row{Metric: name + " delivered msg/s", Hearth: num(hv, 0), Mosq: num(mv, 0),
			Ratio: ratio(hv, mv), Target: "≥ 1.0×", HasTarget: true, Pass: mv > 0 && hv/mv >= 1.0})
		lost := func(s Sample) float64 { return float64(f(s).Lost()) }
		dup := func(s Sample) float64 { return float64(f(s).Duplicates) }
		hl, ml := maxOf(h, lost), maxOf(m, lost)
		rows = append(rows, Row{Metric: name + " lost / duplicates (worst run)",
			Hearth: fmt.Sprintf("%s / %s", num(hl, 0), num(maxOf(h, dup), 0)),
			Mosq:   fmt.Sprintf("%s / %s", num(ml, 0), num(maxOf(m, dup), 0)),
			Ratio:  "-", Target: "0 lost", HasTarget: true, Pass: hl == 0})
	}
	qos0 := func(s Sample) FanInResult { return s.QoS0 }
	qos1 := func(s Sample) FanInResult { return s.QoS1 }
	rate("QoS 0 fan-in", qos0)
	rate("QoS 1 fan-in", qos1)
	for _, c := range []struct {
		name string
		f    func(Sample) FanInResult
	}{{"QoS 0", qos0}, {"QoS 1", qos1}} {
		mt := func(s Sample) float64 { return c.f(s).CPUPerMillion() }
		hv, mv := medianOf(h, mt), medianOf(m, mt)
		rows = append(rows, Row{Metric: "broker CPU s per 1M msgs, " + c.name, Hearth: num(hv, 2), Mosq: num(mv, 2),
			Ratio: ratio(hv, mv), Target: "≤ 1.3×", HasTarget: true, Pass: mv > 0 && hv/mv <= 1.3})
	}
	p50 := func(s Sample) float64 { return float64(s.RTT.P50.Microseconds()) }
	p99 := func(s Sample) float64 { return float64(s.RTT.P99.Microseconds()) }
	hv, mv := medianOf(h, p50), medianOf(m, p50)
	rows = append(rows, Row{Metric: "round trip p50 µs", Hearth: num(hv, 0), Mosq: num(mv, 0), Ratio: ratio(hv, mv), Target: "-"})
	hv, mv = medianOf(h, p99), medianOf(m, p99)
	rows = append(rows, Row{Metric: "round trip p99 µs", Hearth: num(hv, 0), Mosq: num(mv, 0),
		Ratio: ratio(hv, mv), Target: "≤ 2×", HasTarget: true, Pass: mv > 0 && hv/mv <= 2})
	kib := func(s Sample) float64 { return s.Idle.PerClient() / 1024 }
	hv, mv = medianOf(h, kib), medianOf(m, kib)
	rows = append(rows, Row{Metric: fmt.Sprintf("RSS per idle client KiB (%d clients)", r.Opts.IdleClients), Hearth: num(hv, 1), Mosq: num(mv, 1),
		Ratio: ratio(hv, mv), Target: "≤ 32 KiB", HasTarget: true, Pass: hv <= 32})
	return rows
}

// WriteTable prints the rows as a Markdown table, ready for
// docs/PERFORMANCE.md.
func (r *Results) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| metric (median, runs: %d) | Hearth | mosquitto | ratio | target | |\n|---|---:|---:|---:|---|---|\n", len(r.Hearth))
	for _, row := range r.Rows() {
		verdict := ""
		if row.HasTarget {
			verdict = "MISS"
			if row.Pass {
				verdict = "PASS"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", row.Metric, row.Hearth, row.Mosq, row.Ratio, row.Target, verdict)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// commas formats v with prec decimals and thousands separators.
func commas(v float64, prec int) string {
	s := fmt.Sprintf("%.*f", prec, v)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var out []byte
	for i := range len(intPart) {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, intPart[i])
	}
	res := string(out)
	if neg {
		res = "-" + res
	}
	if frac != "" {
		res += "." + frac
	}
	return res
}
