package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hearth-hub/hearth/store"
)

// Persistence defaults.
const (
	// DefaultPersistInterval is how long a change waits before it is
	// written. A QoS 1 message to a connected client is acknowledged within
	// milliseconds, so nearly all in-flight rows are put and deleted inside
	// one window and never reach the disk; a device's retained topic is
	// written at most once per window however often it publishes; and it is
	// the store's own group-commit interval, so a power cut loses about the
	// same second of broker state as of entity history.
	DefaultPersistInterval = time.Second
	// DefaultPersistMaxPending flushes early: a burst of messages for an
	// offline session is written in transactions of about this many rows
	// instead of one large one at the tick.
	DefaultPersistMaxPending = 1024
	// persistFlushTimeout bounds one flush, so Stop cannot hang on a
	// stuck store.
	persistFlushTimeout = 30 * time.Second
)

// PersistOptions configure the persistence hook.
type PersistOptions struct {
	Store    *store.DB // required: where the broker's state is kept
	Users    Users     // required: restored sessions take their permissions from it
	Sessions *Sessions // required: the auth hook's, filled for restored sessions
	// Interval between flushes; DefaultPersistInterval if 0.
	Interval time.Duration
	// MaxPending changes waiting start a flush before the interval is up;
	// DefaultPersistMaxPending if 0.
	MaxPending int
}

// PersistStats count the persistence hook's work.
type PersistStats struct {
	Flushes  uint64 // successful flushes that wrote something
	Written  uint64 // rows put or deleted by them
	Failures uint64 // failed flushes (retried at the next interval)
	Pending  int    // changes waiting now
}

// PersistHook keeps retained messages, persistent sessions, their
// subscriptions and their QoS 1/2 messages in flight in the store, so that
// they survive a restart.
//
// Writes are behind and coalesced: the latest change per row waits in
// memory and is written with the others in one transaction every Interval,
// early at MaxPending, and at Stop. A row put and deleted between two
// flushes is never written. The pending map holds at most one change per
// row of the broker's own state, so it cannot outgrow that state even
// while the store is failing; the hook methods only take a mutex and never
// wait for the disk.
//
// What the hub publishes through the inline client (hearth/... states,
// homeassistant/... configs) is not kept: it is published again at start.
type PersistHook struct {
	mqtt.HookBase
	opts PersistOptions

	mu       sync.Mutex
	pending  map[rowKey]rowOp
	flushing map[rowKey]rowOp        // the batch being written, outside mu
	stored   map[rowKey]struct{}     // rows in the store as of the last flush
	restored map[string]*Perms       // loaded sessions, until mochi creates their clients
	offline  map[string]*mqtt.Client // restored clients not yet back
	closed   bool
	failing  bool
	lastLog  time.Time

	flushes, written, failures atomic.Uint64

	kick     chan struct{}
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

type rowKey struct{ kind, client, name string }

// rowOp is a pending change: a delete, or a put of val, encoded at flush.
type rowOp struct {
	del bool
	val interface{ MarshalBinary() ([]byte, error) }
}

// ID implements mqtt.Hook.
func (h *PersistHook) ID() string { return "hearth-persist" }

// Provides implements mqtt.Hook.
func (h *PersistHook) Provides(b byte) bool {
	return bytes.IndexByte([]byte{
		mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnWillSent,
		mqtt.OnSubscribed, mqtt.OnUnsubscribed,
		mqtt.OnRetainMessage, mqtt.OnRetainedExpired,
		mqtt.OnQosPublish, mqtt.OnQosComplete, mqtt.OnQosDropped,
		mqtt.OnClientExpired,
		mqtt.StoredClients, mqtt.StoredSubscriptions, mqtt.StoredInflightMessages,
		mqtt.StoredRetainedMessages,
	}, b) >= 0
}

// Init takes a *PersistOptions and starts the flusher.
func (h *PersistHook) Init(config any) error {
	opts, ok := config.(*PersistOptions)
	if !ok || opts == nil || opts.Store == nil || opts.Users == nil || opts.Sessions == nil {
		return fmt.Errorf("%s: want *PersistOptions with Store, Users and Sessions, got %T", h.ID(), config)
	}
	if opts.Interval < 0 || opts.MaxPending < 0 {
		return fmt.Errorf("%s: interval %v and max pending %d must not be negative", h.ID(), opts.Interval, opts.MaxPending)
	}
	h.opts = *opts
	if h.opts.Interval == 0 {
		h.opts.Interval = DefaultPersistInterval
	}
	if h.opts.MaxPending == 0 {
		h.opts.MaxPending = DefaultPersistMaxPending
	}
	h.pending = map[rowKey]rowOp{}
	h.stored = map[rowKey]struct{}{}
	h.restored = map[string]*Perms{}
	h.offline = map[string]*mqtt.Client{}
	h.kick = make(chan struct{}, 1)
	h.quit = make(chan struct{})
	h.done = make(chan struct{})
	go h.run()
	return nil
}

// Stop implements mqtt.Hook: it writes what is pending. Changes after Stop
// are ignored.
func (h *PersistHook) Stop() error {
	var err error
	h.stopOnce.Do(func() {
		close(h.quit)
		<-h.done
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		if err = h.flush(); err != nil {
			h.Log.Error("mqtt state not saved at stop", "hook", h.ID(), "err", err)
		}
	})
	return err
}

// Stats returns the hook's counters.
func (h *PersistHook) Stats() PersistStats {
	h.mu.Lock()
	n := len(h.pending)
	h.mu.Unlock()
	return PersistStats{Flushes: h.flushes.Load(), Written: h.written.Load(), Failures: h.failures.Load(), Pending: n}
}

func (h *PersistHook) run() {
	defer close(h.done)
	tick := time.NewTicker(h.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-h.quit:
			return
		case <-tick.C:
			_ = h.flush()
		case <-h.kick:
			// While the store fails only the ticker retries, so a burst
			// does not spin on it.
			h.mu.Lock()
			failing := h.failing
			h.mu.Unlock()
			if !failing {
				_ = h.flush()
			}
		}
	}
}

// flush writes the pending changes in one transaction. On failure they go
// back to pending, under any newer change to the same row.
func (h *PersistHook) flush() error {
	h.mu.Lock()
	if len(h.pending) == 0 {
		h.mu.Unlock()
		return nil
	}
	batch := h.pending
	h.pending = make(map[rowKey]rowOp, len(batch))
	h.flushing = batch
	h.mu.Unlock()

	ops := make([]store.MQTTOp, 0, len(batch))
	for k, op := range batch {
		o := store.MQTTOp{Kind: k.kind, Client: k.client, Name: k.name, Delete: op.del}
		if !op.del {
			v, err := op.val.MarshalBinary()
			if err != nil {
				h.Log.Error("mqtt state not saved: cannot encode it", "hook", h.ID(), "kind", k.kind, "client", k.client, "name", k.name, "err", err)
				continue
			}
			o.Value = v
		}
		ops = append(ops, o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), persistFlushTimeout)
	err := h.opts.Store.ApplyMQTT(ctx, ops)
	cancel()

	h.mu.Lock()
	defer h.mu.Unlock()
	h.flushing = nil
	if err != nil {
		for k, op := range batch {
			if _, newer := h.pending[k]; !newer {
				h.pending[k] = op
			}
		}
		n := h.failures.Add(1)
		if !h.failing || time.Since(h.lastLog) >= time.Minute {
			h.Log.Error("mqtt state not saved, will retry", "hook", h.ID(), "pending", len(h.pending), "failures", n, "err", err)
			h.lastLog = time.Now()
		}
		h.failing = true
		return err
	}
	if h.failing {
		h.Log.Info("mqtt state saved after failures", "hook", h.ID(), "rows", len(ops))
	}
	h.failing = false
	for k, op := range batch {
		if op.del {
			delete(h.stored, k)
		} else {
			h.stored[k] = struct{}{}
		}
	}
	h.flushes.Add(1)
	h.written.Add(uint64(len(ops)))
	return nil
}

func (h *PersistHook) put(k rowKey, v interface{ MarshalBinary() ([]byte, error) }) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.pending[k] = rowOp{val: v}
	n := len(h.pending)
	h.mu.Unlock()
	if n >= h.opts.MaxPending {
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
}

func (h *PersistHook) del(k rowKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.delLocked(k)
}

// delLocked records a delete only for a row that is, or is being, written:
// a put not yet flushed is simply forgotten.
func (h *PersistHook) delLocked(k rowKey) {
	if h.closed {
		return
	}
	_, onDisk := h.stored[k]
	_, writing := h.flushing[k]
	if onDisk || writing {
		h.pending[k] = rowOp{del: true}
	} else {
		delete(h.pending, k)
	}
}

// persistent reports whether cl's session outlives its connection.
func persistent(cl *mqtt.Client) bool {
	if cl.Net.Inline {
		return false
	}
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

func clientKey(id string) rowKey { return rowKey{store.MQTTClient, id, ""} }

func inflightKey(cl *mqtt.Client, pk packets.Packet) rowKey {
	return rowKey{store.MQTTInflight, cl.ID, strconv.Itoa(int(pk.PacketID))}
}

// OnSessionEstablished implements mqtt.Hook.
func (h *PersistHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.mu.Lock()
	if old := h.offline[cl.ID]; old != nil && old != cl {
		// The restored client's session now lives in cl.
		delete(h.offline, cl.ID)
		h.opts.Sessions.m.Delete(old)
	}
	h.mu.Unlock()
	if persistent(cl) {
		h.put(clientKey(cl.ID), clientRecord(cl))
	} else {
		h.del(clientKey(cl.ID))
	}
}

// OnWillSent implements mqtt.Hook: the session's will is gone.
func (h *PersistHook) OnWillSent(cl *mqtt.Client, _ packets.Packet) {
	if persistent(cl) {
		h.put(clientKey(cl.ID), clientRecord(cl))
	}
}

// OnDisconnect implements mqtt.Hook. mochi also calls it for each session
// it restores, before any client connects: that is when the session gets
// its permissions back.
func (h *PersistHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if perms, ok := h.restored[cl.ID]; ok && cl.Net.Conn == nil && errors.Is(err, packets.ErrServerShuttingDown) {
		delete(h.restored, cl.ID)
		if expire {
			h.delLocked(clientKey(cl.ID))
			return
		}
		h.offline[cl.ID] = cl
		h.opts.Sessions.m.Store(cl, perms)
		return
	}
	if expire && !errors.Is(cl.StopCause(), packets.ErrSessionTakenOver) {
		// mochi unsubscribes and drops its in-flight messages next,
		// through the hooks.
		h.delLocked(clientKey(cl.ID))
	}
}

// OnClientExpired implements mqtt.Hook: the session and all its rows go.
func (h *PersistHook) OnClientExpired(cl *mqtt.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.offline[cl.ID] == cl {
		delete(h.offline, cl.ID)
	}
	for _, m := range []map[rowKey]struct{}{h.stored, keysOf(h.pending), keysOf(h.flushing)} {
		for k := range m {
			if k.client == cl.ID && k.kind != store.MQTTRetained {
				h.delLocked(k)
			}
		}
	}
}

func keysOf(m map[rowKey]rowOp) map[rowKey]struct{} {
	out := make(map[rowKey]struct{}, len(m))
	for k := range m {
		out[k] = struct{}{}
	}
	return out
}

// OnSubscribed implements mqtt.Hook.
func (h *PersistHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	if !persistent(cl) {
		return
	}
	for i, f := range pk.Filters {
		if i >= len(codes) || codes[i] >= packets.ErrUnspecifiedError.Code {
			continue // refused
		}
		h.put(rowKey{store.MQTTSub, cl.ID, f.Filter}, &storage.Subscription{
			T: storage.SubscriptionKey, Client: cl.ID, Filter: f.Filter, Qos: codes[i],
			Identifier: f.Identifier, RetainHandling: f.RetainHandling,
			RetainAsPublished: f.RetainAsPublished, NoLocal: f.NoLocal,
		})
	}
}

// OnUnsubscribed implements mqtt.Hook.
func (h *PersistHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range pk.Filters {
		h.delLocked(rowKey{store.MQTTSub, cl.ID, f.Filter})
	}
}

// OnRetainMessage implements mqtt.Hook. A retained message the hub
// published replaces any device's on its topic, and is itself not kept.
func (h *PersistHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	k := rowKey{store.MQTTRetained, "", pk.TopicName}
	if cl.Net.Inline || r <= 0 || len(pk.Payload) == 0 {
		h.del(k)
		return
	}
	h.put(k, messageRecord(cl, pk, storage.RetainedKey))
}

// OnRetainedExpired implements mqtt.Hook.
func (h *PersistHook) OnRetainedExpired(topic string) {
	h.del(rowKey{store.MQTTRetained, "", topic})
}

// OnQosPublish implements mqtt.Hook: a message in flight to or from a
// persistent session.
func (h *PersistHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if persistent(cl) {
		h.put(inflightKey(cl, pk), messageRecord(cl, pk, storage.InflightKey))
	}
}

// OnQosComplete implements mqtt.Hook.
func (h *PersistHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	h.del(inflightKey(cl, pk))
}

// OnQosDropped implements mqtt.Hook.
func (h *PersistHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	h.del(inflightKey(cl, pk))
}

func clientRecord(cl *mqtt.Client) *storage.Client {
	p := cl.Properties.Props.Copy(false)
	return &storage.Client{
		ID: cl.ID, T: storage.ClientKey, Remote: cl.Net.Remote, Listener: cl.Net.Listener,
		Username: cl.Properties.Username, Clean: cl.Properties.Clean,
		ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval: p.SessionExpiryInterval, SessionExpiryIntervalFlag: p.SessionExpiryIntervalFlag,
			AuthenticationMethod: p.AuthenticationMethod, AuthenticationData: p.AuthenticationData,
			RequestProblemInfo: p.RequestProblemInfo, RequestProblemInfoFlag: p.RequestProblemInfoFlag,
			RequestResponseInfo: p.RequestResponseInfo, ReceiveMaximum: p.ReceiveMaximum,
			TopicAliasMaximum: p.TopicAliasMaximum, User: p.User, MaximumPacketSize: p.MaximumPacketSize,
		},
		Will: storage.ClientWill(cl.Properties.Will),
	}
}

// messageRecord keeps pk's slices: mochi does not change a packet's
// payload or properties once it is routed.
func messageRecord(cl *mqtt.Client, pk packets.Packet, t string) *storage.Message {
	return &storage.Message{
		T: t, Client: cl.ID, Origin: pk.Origin, TopicName: pk.TopicName, Payload: pk.Payload,
		FixedHeader: pk.FixedHeader, Created: pk.Created, PacketID: pk.PacketID,
		Properties: storage.MessageProperties{
			PayloadFormat: pk.Properties.PayloadFormat, PayloadFormatFlag: pk.Properties.PayloadFormatFlag,
			MessageExpiryInterval: pk.Properties.MessageExpiryInterval, ContentType: pk.Properties.ContentType,
			ResponseTopic: pk.Properties.ResponseTopic, CorrelationData: pk.Properties.CorrelationData,
			SubscriptionIdentifier: pk.Properties.SubscriptionIdentifier, User: pk.Properties.User,
		},
	}
}
