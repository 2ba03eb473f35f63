package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/hearth-hub/hearth/broker"
	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/hub"
	"github.com/hearth-hub/hearth/store"
)

// Version is set at build time with -ldflags "-X ...daemon.Version=...".
var Version = "dev"

// Daemon is one running hearthd.
type Daemon struct {
	log     *slog.Logger
	level   *slog.LevelVar
	hub     *hub.Hub
	db      *store.DB
	metrics *metrics
	rec     *recorder
	started time.Time
	addrs   []net.Listener // set by Serve
	clock   clockwork.Clock
	be      backend
	hw      *hardware
	loops   []partLoop

	thermos       map[hub.ID]*thermo
	broker        *broker.Broker // nil without mqtt.listen
	readMu        sync.Mutex
	readAt        map[hub.ID]time.Time           // sensor entity -> its last good reading
	contactFns    map[string][]func(closed bool) // by contact part
	contactEntity map[string]hub.ID              // contact part -> its entity

	mu      sync.Mutex
	cfg     *Config
	restart []string // config changes that a reload could not apply
}

// New opens the store and builds the hub from cfg. Close undoes it.
// logOut receives the logs (stderr in production).
func New(cfg *Config, logOut io.Writer) (*Daemon, error) {
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log, level, logOut)
	d := &Daemon{log: log, level: level, cfg: cfg, started: time.Now()}

	path := cfg.StorePath()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	opts := store.DefaultOptions()
	opts.BatchInterval = time.Duration(cfg.Store.BatchInterval)
	opts.BatchSize = cfg.Store.BatchSize
	opts.RawRetention = time.Duration(cfg.Store.RawRetention)
	opts.DownsampleStep = time.Duration(cfg.Store.DownsampleStep)
	opts.DownsampledRetention = time.Duration(cfg.Store.DownsampledRetention)
	opts.Logger = log.With("component", "store")
	live := new(hub.Liveness)
	writer := live.Register("store-writer", opts.BatchInterval+time.Second)
	opts.OnTick = writer.Tick
	db, err := store.Open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	d.db = db

	state, err := db.LoadState(context.Background())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load state: %w", err)
	}
	next := db.Committed()
	for _, c := range state {
		next = max(next, c.Seq)
	}
	au := &auditor{db: db}
	d.hub = hub.New(hub.Options{FirstSeq: next + 1, Auditor: au, Liveness: live})
	d.metrics = newMetrics(d.hub, db)
	au.metrics = d.metrics
	busLog := log.With("component", "bus")
	d.hub.Bus().OnOverflow = func(sub string, queue int) {
		busLog.Warn("subscriber queue full: events are being dropped for it", "subscriber", sub, "queue", queue)
	}

	specs, err := cfg.VirtualSpecs()
	if err != nil {
		db.Close()
		return nil, err
	}
	restored := restoredValues(state)
	for _, s := range specs {
		if err := d.hub.RegisterVirtual(s, restored[string(s.ID)]); err != nil {
			db.Close()
			return nil, fmt.Errorf("virtual entity: %w", err)
		}
	}
	d.rec = newRecorder(d.hub, db, cfg.Bus.QueueSize, log.With("component", "recorder"))
	log.Info("store open", "path", path, "committed_seq", db.Committed())
	if err := d.startHardware(cfg.Hardware); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	if err := d.startControl(cfg); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	if err := d.startBroker(cfg.MQTT); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	if err := d.startMQTTDevices(cfg.MQTT); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	log.Info("hardware ready", "backend", cfg.Hardware.Backend, "parts", len(cfg.Hardware.Parts), "entities", len(d.hub.Entities()))
	return d, nil
}

// startHardware builds every configured part on its backend and registers
// the parts' entities. A part that does not answer stops start-up.
func (d *Daemon) startHardware(cfg HardwareConfig) error {
	d.clock = clockwork.NewRealClock()
	var err error
	switch cfg.Backend {
	case BackendPeriph:
		d.be, err = newPeriphBackend()
	default:
		d.be, err = newSimBackend(cfg.Sim, d.clock)
	}
	if err != nil {
		return fmt.Errorf("hardware: %w", err)
	}
	d.hw = newHardware(cfg, d.be, d.clock, d.log.With("component", "hardware"))
	if err := d.hw.buildAll(cfg.Parts); err != nil {
		return fmt.Errorf("hardware: %w", err)
	}
	d.contactFns, d.contactEntity = map[string][]func(bool){}, map[string]hub.ID{}
	d.readAt = map[hub.ID]time.Time{}
	d.loops, err = d.attachEntities(d.hw, cfg.Parts)
	if err != nil {
		return fmt.Errorf("hardware: %w", err)
	}
	return nil
}

// startControl builds the thermostats and locks on their parts. It runs
// after the hardware so that their parts exist, and before the contacts'
// loops start so that locks hear their doors.
func (d *Daemon) startControl(cfg *Config) error {
	d.thermos = map[hub.ID]*thermo{}
	for _, tc := range cfg.Thermostats {
		loop, err := d.attachThermostat(tc)
		if err != nil {
			return fmt.Errorf("thermostat: %w", err)
		}
		d.loops = append(d.loops, loop)
	}
	for _, lc := range cfg.Locks {
		loop, err := d.attachLock(lc)
		if err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		d.loops = append(d.loops, loop)
	}
	d.loops = append(d.loops, d.contactLoops()...)
	return nil
}

func restoredValues(state []store.Change) map[string]hub.Value {
	out := map[string]hub.Value{}
	for _, c := range state {
		if c.Attr != hub.VirtualValueAttr {
			continue
		}
		if v, ok := fromStoreValue(c.Value); ok {
			out[c.Entity] = v
		}
	}
	return out
}

// Hub is the daemon's hub.
func (d *Daemon) Hub() *hub.Hub { return d.hub }

// Store is the daemon's store.
func (d *Daemon) Store() *store.DB { return d.db }

// Config is the configuration in force.
func (d *Daemon) Config() *Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Close puts every part in its safe state (relays off, motors stopped),
// releases the hardware, and stops the store's writer after it has
// committed everything.
func (d *Daemon) Close() error {
	var errs []error
	// The broker before the store: its persistence hook flushes into the
	// store as it stops.
	if d.broker != nil {
		errs = append(errs, d.broker.Close())
	}
	if d.hw != nil {
		errs = append(errs, d.hw.halt())
	}
	if d.be != nil {
		errs = append(errs, d.be.Close())
	}
	errs = append(errs, d.db.Close())
	return errors.Join(errs...)
}

// Reload applies a new, already validated config: the log level and the
// virtual entities change at once; what needs a restart is logged and
// shown in health.
func (d *Daemon) Reload(next *Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := d.cfg
	specs, err := next.VirtualSpecs()
	if err != nil {
		return err
	}
	var restart []string
	note := func(field string, changed bool) {
		if changed {
			restart = append(restart, field)
		}
	}
	note("state_dir", prev.StateDir != next.StateDir)
	note("store", prev.Store != next.Store || prev.StorePath() != next.StorePath())
	note("api", prev.API != next.API)
	note("bus.queue_size", prev.Bus != next.Bus)
	note("log.format", prev.Log.Format != next.Log.Format)
	note("hardware", !reflect.DeepEqual(prev.Hardware, next.Hardware))
	note("thermostats", !d.reloadThermostats(prev.Thermostats, next.Thermostats))
	note("locks", !reflect.DeepEqual(prev.Locks, next.Locks))
	note("mqtt", !reflect.DeepEqual(prev.MQTT, next.MQTT))

	if err := d.applyVirtual(prev, specs); err != nil {
		return err
	}
	d.level.Set(parseLevel(next.Log.Level))
	// What needs a restart keeps running as it was.
	merged := *next
	merged.StateDir, merged.Store, merged.API, merged.Bus, merged.Log.Format = prev.StateDir, prev.Store, prev.API, prev.Bus, prev.Log.Format
	merged.Hardware, merged.Locks, merged.MQTT = prev.Hardware, prev.Locks, prev.MQTT
	if slices.Contains(restart, "thermostats") {
		merged.Thermostats = prev.Thermostats
	}
	d.cfg = &merged
	d.restart = restart
	if len(restart) > 0 {
		d.log.Warn("config reloaded; some changes take effect only after a restart", "fields", restart)
	} else {
		d.log.Info("config reloaded")
	}
	return nil
}

// reloadThermostats applies what it can of the thermostats' new config and
// reports whether that was all of it (the same thermostats, wired alike).
func (d *Daemon) reloadThermostats(prev, next []ThermostatConfig) bool {
	if reflect.DeepEqual(prev, next) {
		return true
	}
	if len(prev) != len(next) {
		return false
	}
	for i := range next {
		if !sameWiring(prev[i], next[i]) {
			return false
		}
	}
	for i := range next {
		if t := d.thermos[hub.ID(next[i].ID)]; t != nil {
			if err := t.reconfigure(next[i]); err != nil {
				d.log.Error("thermostat reload", "entity", next[i].ID, "err", err)
				return false
			}
		}
	}
	return true
}

// applyVirtual adds, removes and redefines virtual entities to match specs,
// keeping each surviving entity's value where it still fits.
func (d *Daemon) applyVirtual(prev *Config, specs []hub.VirtualSpec) error {
	old, err := prev.VirtualSpecs()
	if err != nil {
		return err
	}
	oldByID := map[hub.ID]hub.VirtualSpec{}
	for _, s := range old {
		oldByID[s.ID] = s
	}
	keep := map[hub.ID]bool{}
	var errs []error
	for _, s := range specs {
		keep[s.ID] = true
		o, existed := oldByID[s.ID]
		if existed && sameSpec(o, s) {
			continue
		}
		var current hub.Value
		if existed {
			if snap, ok := d.hub.Get(s.ID); ok {
				current = snap.Attrs[hub.VirtualValueAttr]
			}
			if err := d.hub.Unregister(s.ID); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := d.hub.RegisterVirtual(s, current); err != nil {
			errs = append(errs, err)
		}
	}
	for id := range oldByID {
		if !keep[id] {
			if err := d.hub.Unregister(id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func sameSpec(a, b hub.VirtualSpec) bool {
	return a.Name == b.Name && a.Min == b.Min && a.Max == b.Max && a.Step == b.Step &&
		a.Unit == b.Unit && slices.Equal(a.Options, b.Options) && a.Initial.Equal(b.Initial)
}

// Health gathers the figures of GET /v1/health.
func (d *Daemon) Health() api.Health {
	cfg := d.Config()
	d.mu.Lock()
	restart := slices.Clone(d.restart)
	d.mu.Unlock()
	b := d.hub.Bus()
	st := d.db.Stats()
	h := api.Health{
		Status: "ok", Version: Version, StartedAt: d.started, Uptime: api.Duration(time.Since(d.started).Round(time.Second)),
		Config: cfg.File, Entities: len(d.hub.Entities()),
		Bus: api.BusHealth{Seq: d.hub.Seq(), Published: b.Published(), Subscribers: b.Stats()},
		Store: api.StoreHealth{
			Path: d.db.Path(), Committed: d.db.Committed(), Pending: st.Pending, Commits: st.Commits,
			CommitErrors: st.CommitErrors, LastCommit: st.LastCommit,
			LastCommitDuration: api.Duration(st.LastCommitDuration), LastError: st.LastError,
		},
		Loops:   d.hub.Liveness().Overdue(time.Now()),
		Restart: restart,
	}
	for _, s := range h.Bus.Subscribers {
		if s.Dropped > 0 {
			h.Problems = append(h.Problems, fmt.Sprintf("bus subscriber %q dropped %d events (queue %d)", s.Name, s.Dropped, s.Limit))
		}
	}
	if st.LastError != "" {
		h.Problems = append(h.Problems, "store: "+st.LastError)
	}
	for _, l := range h.Loops {
		h.Problems = append(h.Problems, "loop overdue: "+l)
	}
	if len(h.Problems) > 0 {
		h.Status = "degraded"
	}
	return h
}

func newLogger(c LogConfig, level *slog.LevelVar, out io.Writer) *slog.Logger {
	level.Set(parseLevel(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
