package broker

import (
	"log/slog"
	"math"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// newTestThrottle is a ThrottleHook on a fake clock whose sleep advances
// the clock, so a flood of publishes runs in no real time.
func newTestThrottle(t *testing.T, rate float64, burst int) (*ThrottleHook, *fakeClock, *countHandler) {
	t.Helper()
	lines := new(countHandler)
	h := new(ThrottleHook)
	if err := h.Init(&ThrottleOptions{Rate: rate, Burst: burst, Log: slog.New(lines)}); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	h.now, h.sleep = clock.Now, clock.Add
	return h, clock, lines
}

func TestThrottleHook_OnPublish(t *testing.T) {
	const rate, burst, n = 100.0, 10, 1000
	h, clock, lines := newTestThrottle(t, rate, burst)
	flooder := &mqtt.Client{ID: "flooder"}
	start := clock.Now()
	for range n {
		if _, err := h.OnPublish(flooder, packets.Packet{}); err != nil {
			t.Fatal(err)
		}
	}
	// The burst goes at once; every later publish waits for its token.
	elapsed := clock.Now().Sub(start)
	if got, want := elapsed.Seconds(), (n-burst)/rate; math.Abs(got-want) > 0.001 {
		t.Errorf("%d publishes took %v, want %.3fs (the rest after the burst at %v/s)", n, elapsed, want, rate)
	}
	st := h.Stats()
	if got, want := st.Throttled, uint64(n-burst); got != want {
		t.Errorf("Throttled=%d, want %d", got, want)
	}
	if math.Abs(st.Waited.Seconds()-elapsed.Seconds()) > 0.001 {
		t.Errorf("Waited=%v, want %v", st.Waited, elapsed)
	}
	if lines.n != 1 {
		t.Errorf("%d log lines for %d throttled publishes, want 1", lines.n, st.Throttled)
	}

	t.Run("each client has its own bucket", func(t *testing.T) {
		before := h.Stats().Throttled
		for range burst {
			if _, err := h.OnPublish(&mqtt.Client{ID: "quiet"}, packets.Packet{}); err != nil {
				t.Fatal(err)
			}
		}
		if got := h.Stats().Throttled; got != before {
			t.Errorf("a quiet client's burst was throttled (%d more)", got-before)
		}
	})
	t.Run("the inline client is never throttled", func(t *testing.T) {
		before := h.Stats().Throttled
		inline := &mqtt.Client{ID: "inline"}
		inline.Net.Inline = true
		for range 10 * burst {
			if _, err := h.OnPublish(inline, packets.Packet{}); err != nil {
				t.Fatal(err)
			}
		}
		if got := h.Stats().Throttled; got != before {
			t.Errorf("the inline client was throttled %d times", got-before)
		}
	})
	t.Run("a bucket refills at the rate, up to the burst", func(t *testing.T) {
		clock.Add(time.Hour)
		before := h.Stats().Throttled
		for range burst + 1 {
			if _, err := h.OnPublish(flooder, packets.Packet{}); err != nil {
				t.Fatal(err)
			}
		}
		if got := h.Stats().Throttled - before; got != 1 {
			t.Errorf("after an idle hour, %d of burst+1 publishes throttled, want 1", got)
		}
	})
	t.Run("one log line per client per minute", func(t *testing.T) {
		if lines.n != 2 {
			t.Fatalf("%d log lines after the flooder's second flood an hour later, want 2", lines.n)
		}
		for range int(rate) * 30 { // 30 s of flood: no new line
			if _, err := h.OnPublish(flooder, packets.Packet{}); err != nil {
				t.Fatal(err)
			}
		}
		if lines.n != 2 {
			t.Errorf("%d log lines within the minute, want 2", lines.n)
		}
		for range int(rate) * 31 {
			if _, err := h.OnPublish(flooder, packets.Packet{}); err != nil {
				t.Fatal(err)
			}
		}
		if lines.n != 3 {
			t.Errorf("%d log lines after a minute, want 3", lines.n)
		}
	})
}

func TestThrottleHook_Prune(t *testing.T) {
	h, clock, _ := newTestThrottle(t, 10, 1)
	for i := range throttleMaxClients {
		h.reserve(string(rune('a'+i%26)) + string(rune(i)))
	}
	h.reserve("busy")
	h.reserve("busy") // throttled: logged now
	clock.Add(time.Second)
	h.reserve("new")
	h.mu.Lock()
	_, busy := h.buckets["busy"]
	n := len(h.buckets)
	h.mu.Unlock()
	if !busy || n != 2 {
		t.Errorf("after pruning: %d buckets (busy kept: %v), want busy and new", n, busy)
	}
}

func TestThrottleHook_Init(t *testing.T) {
	for _, o := range []*ThrottleOptions{nil, {Rate: 0, Burst: 1}, {Rate: math.NaN(), Burst: 1}, {Rate: 10, Burst: 0}} {
		if err := new(ThrottleHook).Init(o); err == nil {
			t.Errorf("Init(%+v) accepted", o)
		}
	}
}

// A real client over its rate is slowed: its publishes take at least as
// long as the rate allows, and the broker counts them.
func TestThrottle_Broker(t *testing.T) {
	const rate, burst, n = 200, 50, 400
	b := startBroker(t, Options{Users: testUsers(t), ClientRate: rate, ClientBurst: burst})
	pub := rawDial(t, b, "throttle-pub", "esp1", "pw-esp1")
	var buf []byte
	for s := range n {
		buf = appendPacket(buf, 0x30, append(appendStr(nil, "devices/esp1/flood"), byte(s)))
	}
	buf = append(buf, 0xC0, 0) // PINGREQ: answered after every publish went through
	start := time.Now()
	go func() { _, _ = pub.c.Write(buf) }()
	_ = pub.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if h, _, err := pub.readPacket(); err != nil || h != 0xD0 {
		t.Fatalf("waiting for PINGRESP: %x %v", h, err)
	}
	elapsed := time.Since(start)
	if least := time.Duration(float64(n-burst-1) / rate * float64(time.Second)); elapsed < least {
		t.Errorf("%d publishes went through in %v; at %v/s after a burst of %d they take at least %v", n, elapsed, rate, burst, least)
	}
	st := b.ThrottleStats()
	if st.Throttled == 0 || st.Waited <= 0 {
		t.Errorf("stats %+v: nothing counted", st)
	}
	if st.Throttled > n-burst {
		t.Errorf("Throttled=%d, more than the %d publishes beyond the burst", st.Throttled, n-burst)
	}

	// The hub's own publishes (the inline client) are never held back.
	before := b.ThrottleStats().Throttled
	for i := range 2 * burst {
		if err := b.Server().Publish("hearth/test/inline/state", []byte{byte(i)}, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.ThrottleStats().Throttled; got != before {
		t.Errorf("the inline client was throttled %d times", got-before)
	}
	if (&Broker{}).ThrottleStats() != (ThrottleStats{}) {
		t.Error("a broker without a limit reports throttling")
	}
}
