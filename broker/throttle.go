package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ThrottleOptions configure a ThrottleHook.
type ThrottleOptions struct {
	Rate  float64      // messages a second per client; must be > 0
	Burst int          // messages a client may send at once above Rate; must be ≥ 1
	Log   *slog.Logger // slog.Default() if nil
}

// ThrottleStats are a ThrottleHook's counters since Init.
type ThrottleStats struct {
	Throttled uint64        // publishes that were held back
	Waited    time.Duration // total time publishers were held back
}

// throttleLogEvery limits the log lines per client.
const throttleLogEvery = time.Minute

// throttleMaxClients is how many clients' buckets are kept before idle
// ones are forgotten.
const throttleMaxClients = 4096

// ThrottleHook limits how fast each client may publish, with a token
// bucket per client ID (Rate a second, Burst at once). It waits in
// OnPublish, which mochi runs on the publisher's read loop before the
// PUBACK: a client over its rate is slowed down through TCP's own
// backpressure, and nothing it sent is dropped. The inline client (the
// hub's own publishes) is never throttled. A publish the ACL refused is
// not counted: mochi checks the ACL before OnPublish.
type ThrottleHook struct {
	mqtt.HookBase
	rate  float64
	burst float64
	log   *slog.Logger

	throttled atomic.Uint64
	waited    atomic.Int64 // nanoseconds

	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
	sleep   func(time.Duration)
}

// bucket is one client's token bucket. tokens goes negative when a
// publish reserves a token that has not arrived yet: the publisher then
// sleeps until it has.
type bucket struct {
	tokens  float64
	at      time.Time // when tokens was last brought up to date
	n       uint64    // publishes throttled since the last log line
	logged  time.Time
	hasLogs bool
}

// ID implements mqtt.Hook.
func (h *ThrottleHook) ID() string { return "hearth-throttle" }

// Provides implements mqtt.Hook.
func (h *ThrottleHook) Provides(b byte) bool { return b == mqtt.OnPublish }

// Init implements mqtt.Hook; config is a *ThrottleOptions.
func (h *ThrottleHook) Init(config any) error {
	o, ok := config.(*ThrottleOptions)
	if !ok || o == nil {
		return errors.New("throttle: config must be a *ThrottleOptions")
	}
	if !(o.Rate > 0) {
		return fmt.Errorf("throttle: rate must be above 0, got %v", o.Rate)
	}
	if o.Burst < 1 {
		return fmt.Errorf("throttle: burst must be at least 1, got %d", o.Burst)
	}
	h.rate, h.burst, h.log = o.Rate, float64(o.Burst), o.Log
	if h.log == nil {
		h.log = slog.Default()
	}
	h.buckets = make(map[string]*bucket)
	h.now, h.sleep = time.Now, time.Sleep
	return nil
}

// Stats returns the counters.
func (h *ThrottleHook) Stats() ThrottleStats {
	return ThrottleStats{Throttled: h.throttled.Load(), Waited: time.Duration(h.waited.Load())}
}

// OnPublish takes a token from cl's bucket, waiting for one if the bucket
// is empty.
func (h *ThrottleHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	if wait := h.reserve(cl.ID); wait > 0 {
		h.sleep(wait)
	}
	return pk, nil
}

// reserve takes one token from id's bucket and says how long to wait
// until that token is due.
func (h *ThrottleHook) reserve(id string) time.Duration {
	now := h.now()
	h.mu.Lock()
	b := h.buckets[id]
	if b == nil {
		if len(h.buckets) >= throttleMaxClients {
			h.prune(now)
		}
		b = &bucket{tokens: h.burst, at: now}
		h.buckets[id] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(h.burst, b.tokens+d.Seconds()*h.rate)
		b.at = now
	}
	b.tokens--
	if b.tokens >= 0 {
		h.mu.Unlock()
		return 0
	}
	wait := time.Duration(-b.tokens / h.rate * float64(time.Second))
	b.n++
	n := b.n
	logNow := !b.hasLogs || now.Sub(b.logged) >= throttleLogEvery
	if logNow {
		b.n, b.logged, b.hasLogs = 0, now, true
	}
	h.mu.Unlock()
	h.throttled.Add(1)
	h.waited.Add(int64(wait))
	if logNow {
		h.log.Warn(fmt.Sprintf("mqtt client %s throttled: over %g msg/s", id, h.rate),
			"client", id, "rate", h.rate, "burst", int(h.burst), "throttled", n)
	}
	return wait
}

// prune forgets buckets that have refilled and have logged nothing within
// throttleLogEvery: a new bucket would behave the same. h.mu held.
func (h *ThrottleHook) prune(now time.Time) {
	refill := time.Duration(h.burst / h.rate * float64(time.Second))
	for id, b := range h.buckets {
		if now.Sub(b.at) >= refill && now.Sub(b.logged) >= throttleLogEvery {
			delete(h.buckets, id)
		}
	}
}
