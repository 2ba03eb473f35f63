package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
)

// Sessions maps each authenticated client to its permissions: the auth
// hook fills it, the ACL hook reads it, Broker.Refresh replaces them. The
// zero value is ready to use.
type Sessions struct {
	m   sync.Map      // *mqtt.Client -> *Perms
	gen atomic.Uint64 // bumped by each Refresh
}

// Get returns a connected client's permissions, nil if it has none.
func (s *Sessions) Get(cl *mqtt.Client) *Perms {
	if p, ok := s.m.Load(cl); ok {
		return p.(*Perms)
	}
	return nil
}

// AuthOptions configure the auth hook.
type AuthOptions struct {
	Users    Users
	Sessions *Sessions
	// MaxFailures failed logins within Window, for one address or one user
	// name, refuse further logins from it until Window has passed since the
	// last failure. Defaults: 5 and a minute.
	MaxFailures int
	Window      time.Duration
	Now         func() time.Time // time.Now if nil
	Failures    *atomic.Uint64   // counts failed and refused logins
	// Server, when set, lets the hook refuse a client id that another
	// user's session holds (see OnConnectAuthenticate).
	Server *mqtt.Server
}

// AuthHook refuses anonymous clients and checks passwords with bcrypt.
type AuthHook struct {
	mqtt.HookBase
	opts    AuthOptions
	mu      sync.Mutex
	byKey   map[string]*burst // "addr:<ip>" or "user:<name>"
	dummy   []byte            // compared when the user is unknown, to take as long
	lastGC  time.Time
	nowFunc func() time.Time
}

type burst struct {
	fails   []time.Time // within the window
	blocked time.Time   // refused until then
	logged  bool        // the burst has been logged
}

// ID implements mqtt.Hook.
func (h *AuthHook) ID() string { return "hearth-auth" }

// Provides implements mqtt.Hook.
func (h *AuthHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnSessionEstablished ||
		b == mqtt.OnDisconnect || b == mqtt.OnClientExpired
}

// Init takes an AuthOptions.
func (h *AuthHook) Init(config any) error {
	opts, ok := config.(AuthOptions)
	if !ok || opts.Users == nil || opts.Sessions == nil || opts.Failures == nil {
		return fmt.Errorf("%s: want AuthOptions with Users, Sessions and Failures, got %T", h.ID(), config)
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 5
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	h.nowFunc = opts.Now
	if h.nowFunc == nil {
		h.nowFunc = time.Now
	}
	h.opts = opts
	h.byKey = map[string]*burst{}
	var err error
	h.dummy, err = dummyHash()
	return err
}

// dummyHash is compared when the user is unknown, so that an unknown name
// takes as long to refuse as a wrong password.
var dummyHash = sync.OnceValues(func() ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte("hearth-dummy"), bcrypt.DefaultCost)
})

// OnConnectAuthenticate implements mqtt.Hook.
func (h *AuthHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	name := string(pk.Connect.Username)
	addr := cl.Net.Remote
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	keys := []string{"addr:" + addr, "user:" + name}
	if !pk.Connect.UsernameFlag || name == "" {
		h.fail(keys, name, addr, "anonymous")
		return false
	}
	if h.blocked(keys) {
		h.opts.Failures.Add(1)
		return false
	}
	gen := h.opts.Sessions.gen.Load()
	u, ok, err := h.opts.Users.Lookup(name)
	if err != nil {
		h.Log.Error("user lookup", "hook", h.ID(), "user", name, "err", err)
		return false
	}
	hash := h.dummy
	if ok {
		hash = u.Hash
	}
	if bcrypt.CompareHashAndPassword(hash, pk.Connect.Password) != nil || !ok {
		h.fail(keys, name, addr, "bad user name or password")
		return false
	}
	// mochi hands a session to whoever connects with its client id: its
	// subscriptions and the messages queued for it, which were checked
	// against its own user's permissions, not the newcomer's.
	if srv := h.opts.Server; srv != nil {
		if old, ok := srv.Clients.Get(cl.ID); ok && string(old.Properties.Username) != name {
			h.Log.Warn("refused login: client id belongs to another user's session", "hook", h.ID(),
				"user", name, "remote", addr, "client", cl.ID, "session_user", string(old.Properties.Username))
			return false
		}
	}
	perms, err := PermsFor(u)
	if err != nil {
		h.Log.Error("refused login", "hook", h.ID(), "user", name, "err", err)
		return false
	}
	h.opts.Sessions.m.Store(cl, perms)
	// A Refresh that ran since the lookup may have missed this client:
	// read the user again until none has.
	for g := h.opts.Sessions.gen.Load(); g != gen; g = h.opts.Sessions.gen.Load() {
		gen = g
		if u, ok, err = h.opts.Users.Lookup(name); err == nil && ok {
			perms, err = PermsFor(u)
		}
		if err != nil || !ok {
			h.opts.Sessions.m.Delete(cl)
			h.Log.Warn("refused login: user changed or removed while logging in", "hook", h.ID(), "user", name, "remote", addr, "err", err)
			return false
		}
		h.opts.Sessions.m.Store(cl, perms)
	}
	// mochi publishes a will without an ACL check: check it here.
	if pk.Connect.WillFlag && !perms.CanWrite(pk.Connect.WillTopic) {
		h.opts.Sessions.m.Delete(cl)
		h.Log.Warn("refused login: will topic not writable", "hook", h.ID(), "user", name, "remote", addr, "topic", pk.Connect.WillTopic)
		return false
	}
	return true
}

// OnSessionEstablished implements mqtt.Hook: a client that took over a
// persistent session replaces the client it took it over from, whose
// permissions (kept while it was away) would otherwise stay in Sessions
// for good, one more entry on every reconnect.
func (h *AuthHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.opts.Sessions.m.Range(func(k, _ any) bool {
		if old := k.(*mqtt.Client); old != cl && old.ID == cl.ID {
			h.opts.Sessions.m.Delete(old)
		}
		return true
	})
}

// OnDisconnect implements mqtt.Hook. A persistent session keeps its
// permissions while its client is away: messages for it are still checked
// against them and queued, not refused.
func (h *AuthHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if expire {
		h.opts.Sessions.m.Delete(cl)
	}
}

// OnClientExpired implements mqtt.Hook: the persistent session is gone.
func (h *AuthHook) OnClientExpired(cl *mqtt.Client) {
	h.opts.Sessions.m.Delete(cl)
}

func (h *AuthHook) blocked(keys []string) bool {
	now := h.nowFunc()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		if b := h.byKey[k]; b != nil && now.Before(b.blocked) {
			return true
		}
	}
	return false
}

// fail counts a failed login and starts a block when a key has failed too
// often, logging once per burst.
func (h *AuthHook) fail(keys []string, name, addr, why string) {
	h.opts.Failures.Add(1)
	now := h.nowFunc()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gcLocked(now)
	for _, k := range keys {
		b := h.byKey[k]
		if b == nil {
			b = &burst{}
			h.byKey[k] = b
		}
		kept := b.fails[:0]
		for _, t := range b.fails {
			if now.Sub(t) < h.opts.Window {
				kept = append(kept, t)
			}
		}
		b.fails = append(kept, now)
		if len(b.fails) == 1 && !now.Before(b.blocked) {
			b.logged = false // a new burst
		}
		if len(b.fails) >= h.opts.MaxFailures {
			b.blocked = now.Add(h.opts.Window)
			if !b.logged {
				b.logged = true
				h.Log.Warn("mqtt logins refused for a while after repeated failures", "hook", h.ID(),
					"key", k, "failures", len(b.fails), "until", b.blocked, "user", name, "remote", addr, "last", why)
			}
		}
	}
	h.Log.LogAttrs(context.Background(), slog.LevelDebug, "mqtt login failed", slog.String("hook", h.ID()), slog.String("user", name), slog.String("remote", addr), slog.String("why", why))
}

// gcLocked forgets keys idle for a window, at most once a window.
func (h *AuthHook) gcLocked(now time.Time) {
	if now.Sub(h.lastGC) < h.opts.Window {
		return
	}
	h.lastGC = now
	for k, b := range h.byKey {
		if len(b.fails) > 0 && now.Sub(b.fails[len(b.fails)-1]) >= h.opts.Window && !now.Before(b.blocked) {
			delete(h.byKey, k)
		}
	}
}
