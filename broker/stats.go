package broker

import (
	"sync/atomic"
	"time"
)

// DefaultSysInterval is how often the $SYS topics are republished. Mochi's
// default is a second; each tick stops the world for runtime.ReadMemStats
// and rewrites twenty retained messages to every $SYS subscriber, work a
// Pi would do every second for figures a dashboard samples far less often.
// Ten seconds is mosquitto's default too; Prometheus reads the counters at
// scrape time and does not depend on it.
const DefaultSysInterval = 10 * time.Second

// sysSeconds is mochi's SysTopicResendInterval for d: whole seconds, at
// least one.
func sysSeconds(d time.Duration) int64 {
	if d <= 0 {
		d = DefaultSysInterval
	}
	return max(int64(d/time.Second), 1)
}

// Stats is a snapshot of the broker's counters, read at metrics scrape time.
// Counters count since New; the others are current values.
type Stats struct {
	ClientsConnected int64 // current
	MessagesReceived int64 // PUBLISH packets from clients
	MessagesSent     int64 // PUBLISH packets to clients
	BytesReceived    int64
	BytesSent        int64
	Retained         int64 // current retained messages
	Subscriptions    int64 // current
	Inflight         int64 // current QoS 1/2 messages awaiting acknowledgement

	// Drops, by mochi's reason: the subscriber's write queue was full, or
	// its in-flight store was (or its packet IDs ran out).
	DroppedWriteQueue int64
	DroppedInflight   int64

	AuthFailures uint64    // failed and refused logins
	Flow         FlowStats // flow control's waits and timeouts
}

// Stats reads the broker's counters. It takes no locks: each field is read
// atomically on its own, so the snapshot is not one instant.
func (b *Broker) Stats() Stats {
	in := b.srv.Info
	return Stats{
		ClientsConnected:  atomic.LoadInt64(&in.ClientsConnected),
		MessagesReceived:  atomic.LoadInt64(&in.MessagesReceived),
		MessagesSent:      atomic.LoadInt64(&in.MessagesSent),
		BytesReceived:     atomic.LoadInt64(&in.BytesReceived),
		BytesSent:         atomic.LoadInt64(&in.BytesSent),
		Retained:          atomic.LoadInt64(&in.Retained),
		Subscriptions:     atomic.LoadInt64(&in.Subscriptions),
		Inflight:          atomic.LoadInt64(&in.Inflight),
		DroppedWriteQueue: atomic.LoadInt64(&in.MessagesDropped),
		DroppedInflight:   atomic.LoadInt64(&in.InflightDropped),
		AuthFailures:      b.failures.Load(),
		Flow:              b.flow.Stats(),
	}
}
