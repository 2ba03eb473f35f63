package hub

import (
	"sort"
	"sync"
	"time"
)

// Liveness tracks the loops that must keep running. Each loop registers a
// Beat and ticks it every time round; the daemon pings systemd's watchdog
// only while no beat is overdue, so a wedged loop gets the process
// restarted.
type Liveness struct {
	mu    sync.Mutex
	beats map[*Beat]struct{}
}

// Beat is one loop's heartbeat.
type Beat struct {
	l     *Liveness
	name  string
	every time.Duration
	mu    sync.Mutex
	last  time.Time // monotonic
}

// Register adds a loop that promises to tick at least every `every`.
func (l *Liveness) Register(name string, every time.Duration) *Beat {
	b := &Beat{l: l, name: name, every: every, last: time.Now()}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.beats == nil {
		l.beats = map[*Beat]struct{}{}
	}
	l.beats[b] = struct{}{}
	return b
}

// Tick records that the loop went round.
func (b *Beat) Tick() {
	b.mu.Lock()
	b.last = time.Now()
	b.mu.Unlock()
}

// Done removes the beat: its loop has ended on purpose.
func (b *Beat) Done() {
	b.l.mu.Lock()
	defer b.l.mu.Unlock()
	delete(b.l.beats, b)
}

// Overdue names the loops that have not ticked for twice their promise.
func (l *Liveness) Overdue(now time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for b := range l.beats {
		b.mu.Lock()
		late := now.Sub(b.last) > 2*b.every
		b.mu.Unlock()
		if late {
			out = append(out, b.name)
		}
	}
	sort.Strings(out)
	return out
}
