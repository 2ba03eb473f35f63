package broker

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/hearth-hub/hearth/hub"
	"github.com/hearth-hub/hearth/store"
)

// DefaultAddr is where a fresh install listens: loopback only.
const DefaultAddr = "127.0.0.1:1883"

// ClientQueue is the length of each client's write queue.
const ClientQueue = 1024

// Options configure a Broker.
type Options struct {
	Addr   string       // TCP listen address; DefaultAddr if empty
	Users  Users        // required
	Hub    *hub.Hub     // nil: no hub bridge
	Logger *slog.Logger // slog.Default() if nil
	// Store keeps retained messages, persistent sessions and their
	// messages in flight across restarts (see PersistHook); nil: memory only.
	Store *store.DB

	// NoTCP leaves out the plain TCP listener (Addr is ignored), for a
	// broker reached only over TLS or websockets.
	NoTCP         bool
	TLSAddr       string      // TLS listen address; "" for none
	TLS           *tls.Config // required with TLSAddr (see LoadTLS); TLS 1.2 at least
	WebsocketAddr string      // ws://host:port/ listen address; "" for none
	// MaxPacketSize is the largest packet a client may send, in bytes;
	// DefaultMaxPacketSize if 0. A bigger one closes the connection.
	MaxPacketSize uint32
	// ConnectTimeout is how long a new connection has for its TLS
	// handshake and CONNECT packet; DefaultConnectTimeout if 0.
	ConnectTimeout time.Duration

	// Failed-login limits (see AuthOptions): defaults 5 per minute.
	MaxFailures int
	Window      time.Duration
	Now         func() time.Time // time.Now if nil

	// SysInterval is how often the $SYS topics are republished, in whole
	// seconds; DefaultSysInterval if zero.
	SysInterval time.Duration

	// ClientRate limits each client's publishes to this many a second,
	// with ClientBurst at once above it (see ThrottleHook); 0: no limit.
	ClientRate  float64
	ClientBurst int
}

// Broker is the embedded MQTT broker.
type Broker struct {
	srv       *mqtt.Server
	tcp       *listeners.TCP // nil with NoTCP
	tls       *listeners.TCP // nil without TLSAddr
	ws        *wsListener    // nil without WebsocketAddr
	bridge    *BridgeHook
	discovery *DiscoveryHook
	flow      *FlowHook
	persist   *PersistHook  // nil without a Store
	inline    inlineSubs    // the daemon's own subscriptions (Subscribe)
	throttle  *ThrottleHook // nil without a client rate
	log       *slog.Logger
	failures  atomic.Uint64
	users     Users     // for Refresh
	sess      *Sessions // for Refresh

	closeOnce sync.Once
	started   atomic.Bool
	stop      chan struct{}
	done      chan struct{}
}

// New builds a broker with its auth, ACL and (with a hub) bridge hooks.
// It listens only once started.
func New(opts Options) (*Broker, error) {
	if opts.Users == nil {
		return nil, fmt.Errorf("broker: no Users")
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "mqtt")
	b := &Broker{log: log, stop: make(chan struct{}), done: make(chan struct{})}
	b.srv = mqtt.New(&mqtt.Options{
		Logger: log, InlineClient: true, SysTopicResendInterval: sysSeconds(opts.SysInterval),
		// A subscriber's backed-up messages go out in one write of up to
		// 16 KiB instead of one per message (mochi: 2 KiB); the buffer
		// exists only while there is a backlog. A client's read buffer
		// is held for as long as it is connected: 1 KiB is a sensor's
		// whole message, and larger packets are read through it.
		ClientNetWriteBufferSize: 16 << 10,
		ClientNetReadBufferSize:  1 << 10,
	})
	// Mochi makes every client's write queue, a channel, with room for
	// this many messages up front: 8 B each, 64 KiB a client at its
	// default of 8192, most of an idle client's memory. Flow control
	// keeps a subscriber's queue near half of it and the retained
	// messages of a subscribe wait for it, so a short queue costs a
	// backed-up subscriber nothing but earlier pacing.
	b.srv.Options.Capabilities.MaximumClientWritesPending = ClientQueue
	sess := new(Sessions)
	b.users, b.sess = opts.Users, sess
	if err := b.srv.AddHook(new(AuthHook), AuthOptions{
		Users: opts.Users, Sessions: sess, MaxFailures: opts.MaxFailures,
		Window: opts.Window, Now: opts.Now, Failures: &b.failures, Server: b.srv,
	}); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := b.srv.AddHook(new(ACLHook), ACLOptions{Sessions: sess}); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := b.srv.AddHook(new(GuardHook), GuardOptions{MaxPacketSize: maxPacketSize(opts)}); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	// The throttle goes before the bridge, so a client flooding commands
	// is slowed before they reach the hub.
	if opts.ClientRate > 0 {
		b.throttle = new(ThrottleHook)
		if err := b.srv.AddHook(b.throttle, &ThrottleOptions{Rate: opts.ClientRate, Burst: opts.ClientBurst, Log: log}); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
	}
	if opts.Hub != nil {
		b.bridge = new(BridgeHook)
		if err := b.srv.AddHook(b.bridge, BridgeOptions{Server: b.srv, Hub: opts.Hub, Users: opts.Users}); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		b.discovery = new(DiscoveryHook)
		if err := b.srv.AddHook(b.discovery, &DiscoveryOptions{Hub: opts.Hub, Server: b.srv, Log: log}); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
	}
	// After the bridge, so the retained states it publishes at start
	// replace restored ones; before flow control, which may wait.
	if opts.Store != nil {
		b.persist = new(PersistHook)
		if err := b.srv.AddHook(b.persist, &PersistOptions{Store: opts.Store, Users: opts.Users, Sessions: sess}); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
	}
	// Flow control goes last: a publish an earlier hook refused never waits.
	b.flow = new(FlowHook)
	if err := b.srv.AddHook(b.flow, &FlowOptions{Server: b.srv, Log: log}); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	// Flow control paces MQTT 5 subscribers to their Receive Maximum, in
	// place of mochi's send quota (see SendQuotaHook).
	if err := b.srv.AddHook(new(SendQuotaHook), nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := b.listen(opts); err != nil {
		_ = b.srv.Close() // releases the listeners already bound
		return nil, err
	}
	return b, nil
}

// Start serves clients until ctx is done or Close is called.
func (b *Broker) Start(ctx context.Context) error {
	if !b.started.CompareAndSwap(false, true) {
		return fmt.Errorf("broker: already started or closed")
	}
	if err := b.srv.Serve(); err != nil {
		_ = b.srv.Close()
		close(b.done)
		return fmt.Errorf("broker: %w", err)
	}
	b.log.Info("mqtt broker listening", "addr", b.Addr(), "tls", b.TLSAddr(), "websocket", b.WebsocketAddr())
	b.startInline()
	if b.discovery != nil {
		// After Serve: the bridge's first states are out, so Home
		// Assistant finds state behind every config it reads.
		b.discovery.Publish()
	}
	go func() {
		defer close(b.done)
		select {
		case <-ctx.Done():
		case <-b.stop:
		}
		if b.bridge != nil {
			b.bridge.offline()
		}
		if err := b.srv.Close(); err != nil {
			b.log.Error("mqtt broker close", "err", err)
		}
	}()
	return nil
}

// Close stops the broker, publishing hearth/status offline first, and
// waits for it. A broker that was never started releases its listener.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		if b.started.CompareAndSwap(false, true) {
			err := b.srv.Close()
			close(b.done)
			if err != nil {
				b.log.Error("mqtt broker close", "err", err)
			}
			return
		}
		close(b.stop)
	})
	<-b.done
	return nil
}

// Addr is the TCP listener's bound address (useful with port 0), or ""
// with NoTCP.
func (b *Broker) Addr() string {
	if b.tcp == nil {
		return ""
	}
	return b.tcp.Address()
}

// TLSAddr is the TLS listener's bound address, or "" without one.
func (b *Broker) TLSAddr() string {
	if b.tls == nil {
		return ""
	}
	return b.tls.Address()
}

// WebsocketAddr is the websocket listener's bound address, or "" without
// one.
func (b *Broker) WebsocketAddr() string {
	if b.ws == nil {
		return ""
	}
	return b.ws.Address()
}

// AuthFailures counts failed and refused logins since New.
func (b *Broker) AuthFailures() uint64 { return b.failures.Load() }

// FlowStats counts flow control's waits and what the broker still dropped.
func (b *Broker) FlowStats() FlowStats { return b.flow.Stats() }

// ThrottleStats counts the publishes the client rate limit held back; zero
// without a limit.
func (b *Broker) ThrottleStats() ThrottleStats {
	if b.throttle == nil {
		return ThrottleStats{}
	}
	return b.throttle.Stats()
}

// PersistStats counts the persistence hook's writes and failures; zero
// without a Store.
func (b *Broker) PersistStats() PersistStats {
	if b.persist == nil {
		return PersistStats{}
	}
	return b.persist.Stats()
}

// Server is the underlying mochi server, for further hooks and listeners.
func (b *Broker) Server() *mqtt.Server { return b.srv }
