package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-hub/hearth/control/thermostat"
	"github.com/hearth-hub/hearth/drivers/relay"
	"github.com/hearth-hub/hearth/hub"
)

// controlConfig turns the config's keys into the controller's Config.
func (t *ThermostatConfig) controlConfig() (thermostat.Config, error) {
	c := thermostat.DefaultConfig()
	c.HasHeat, c.HasHeat2, c.HasCool, c.HasCool2 = t.Heat != "", t.Heat2 != "", t.Cool != "", t.Cool2 != ""
	c.HasFan, c.HasReversing = t.Fan != "", t.Reversing != ""
	c.ReversingInHeat = t.ReversingIn == "heat"
	c.HeatPump = t.HeatPump
	for _, f := range []struct {
		dst *float64
		src *float64
	}{
		{&c.HeatDiff, t.HeatDifferential}, {&c.CoolDiff, t.CoolDifferential}, {&c.MinGap, t.AutoGap},
		{&c.Stage2Diff, t.Stage2Differential}, {&c.Freeze, t.Freeze}, {&c.OverTemp, t.OverTemperature},
		{&c.MinSetpoint, t.MinSetpoint}, {&c.MaxSetpoint, t.MaxSetpoint},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	for _, f := range []struct {
		dst *time.Duration
		src Duration
	}{
		{&c.CompMinOff, t.CompressorMinOff}, {&c.CompMinOn, t.CompressorMinOn}, {&c.HeatMinOff, t.HeatMinOff}, {&c.HeatMinOn, t.HeatMinOn},
		{&c.FanOverrun, t.FanOverrun}, {&c.Stage2After, t.Stage2After}, {&c.ChangeoverDelay, t.ChangeoverDelay},
		{&c.MaxRun, t.MaxRun}, {&c.Circulate, t.Circulate}, {&c.StaleAfter, t.StaleAfter},
	} {
		if f.src != 0 {
			*f.dst = time.Duration(f.src)
		}
	}
	return c, c.Validate()
}

// initialSettings are the settings of a thermostat's first start.
func (t *ThermostatConfig) initialSettings(cfg thermostat.Config) (thermostat.Settings, error) {
	s := thermostat.Settings{Mode: "off", Fan: "auto", Target: 20, TargetLow: 19, TargetHigh: 24}
	if t.Mode != "" {
		s.Mode = thermostat.Mode(t.Mode)
	}
	if t.FanMode != "" {
		s.Fan = thermostat.FanMode(t.FanMode)
	}
	for _, f := range []struct {
		dst *float64
		src *float64
	}{{&s.Target, t.Target}, {&s.TargetLow, t.TargetLow}, {&s.TargetHigh, t.TargetHigh}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return s, cfg.CheckSettings(s)
}

func (t *ThermostatConfig) presets(base thermostat.Settings) []thermostat.Preset {
	if len(t.Presets) == 0 {
		heat := func(c float64) thermostat.Settings { s := base; s.Target = c; return s }
		return []thermostat.Preset{{Name: "home", Settings: heat(21)}, {Name: "away", Settings: heat(16)}, {Name: "sleep", Settings: heat(18)}}
	}
	var out []thermostat.Preset
	for _, p := range t.Presets {
		s := base
		if p.Mode != "" {
			s.Mode = thermostat.Mode(p.Mode)
		}
		for _, f := range []struct {
			dst *float64
			src *float64
		}{{&s.Target, p.Target}, {&s.TargetLow, p.TargetLow}, {&s.TargetHigh, p.TargetHigh}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
		out = append(out, thermostat.Preset{Name: p.Name, Settings: s})
	}
	return out
}

// thermo runs one thermostat: it feeds the controller the sensors'
// readings, writes its decisions to the relays (offs before ons, and never
// heat with cool), and shows its state on the entity.
type thermo struct {
	d       *Daemon
	id      hub.ID
	cfg     ThermostatConfig
	log     *slog.Logger
	relays  map[string]*relay.Dev // heat, heat2, cool, cool2, fan, reversing
	presets []thermostat.Preset
	sensors map[hub.ID]bool
	start   time.Time
	sub     *hub.Subscription
	steps   atomic.Uint64 // control steps taken by run: a loop that keeps its period counts up

	mu       sync.Mutex
	ctrl     *thermostat.Controller
	settings thermostat.Settings
	readings []thermostat.Reading // reused each step
	humidity float64
	unavail  thermostat.Outputs
	mem      thermostat.Memory
	alerts   string
}

// The keys under which a thermostat's memory and settings are kept.
func memKey(id hub.ID) string      { return "thermostat/" + string(id) + "/memory" }
func settingsKey(id hub.ID) string { return "thermostat/" + string(id) + "/settings" }

func (d *Daemon) attachThermostat(tc ThermostatConfig) (partLoop, error) {
	id := hub.ID(tc.ID)
	cfg, err := tc.controlConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	s, err := tc.initialSettings(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	ctx := context.Background()
	if raw, ok, err := d.db.GetKV(ctx, settingsKey(id)); err == nil && ok {
		var kept thermostat.Settings
		if json.Unmarshal([]byte(raw), &kept) == nil && cfg.CheckSettings(kept) == nil {
			s = kept
		}
	}
	var mem thermostat.Memory
	if raw, ok, err := d.db.GetKV(ctx, memKey(id)); err == nil && ok {
		_ = json.Unmarshal([]byte(raw), &mem) // unreadable: zero, which the controller treats as "just switched"
	}
	t := &thermo{
		d: d, id: id, cfg: tc, log: d.log.With("component", "thermostat", "entity", tc.ID),
		relays: map[string]*relay.Dev{}, sensors: map[hub.ID]bool{}, start: d.clock.Now(),
		settings: s, humidity: math.NaN(), mem: mem,
	}
	for name, part := range map[string]string{"heat": tc.Heat, "heat2": tc.Heat2, "cool": tc.Cool, "cool2": tc.Cool2, "fan": tc.Fan, "reversing": tc.Reversing} {
		if part == "" {
			continue
		}
		dev, err := d.hw.part(part)
		if err != nil {
			return nil, err
		}
		r, ok := dev.(*relay.Dev)
		if !ok {
			return nil, fmt.Errorf("%s: part %q is not a relay", id, part)
		}
		t.relays[name] = r
	}
	t.presets = tc.presets(s)
	t.ctrl, err = thermostat.New(cfg, s, mem, t.now(), d.clock.Now())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	for _, sid := range tc.Sensors {
		t.sensors[hub.ID(sid)] = true
	}
	if tc.Humidity != "" {
		t.sensors[hub.ID(tc.Humidity)] = true
	}
	t.sub = d.hub.Bus().Subscribe("thermostat "+tc.ID, 1024, func(ev *hub.Event) bool { return t.sensors[ev.Entity] })
	if err := d.hub.Register(t.entity(cfg), nil); err != nil {
		return nil, err
	}
	t.step()
	d.thermos[id] = t
	return t.run, nil
}

// sameWiring reports whether two configs of a thermostat differ only in
// settings a reload can apply: the sensors and relays are the same.
func sameWiring(a, b ThermostatConfig) bool {
	return a.ID == b.ID && slices.Equal(a.Sensors, b.Sensors) && a.Humidity == b.Humidity &&
		a.Heat == b.Heat && a.Heat2 == b.Heat2 && a.Cool == b.Cool && a.Cool2 == b.Cool2 &&
		a.Fan == b.Fan && a.Reversing == b.Reversing && a.ReversingIn == b.ReversingIn && a.HeatPump == b.HeatPump &&
		slices.EqualFunc(a.Presets, b.Presets, func(x, y PresetConfig) bool { return x.Name == y.Name })
}

// reconfigure applies a reloaded config's control settings; the
// controller carries its timers over, so no minimum time is cut short.
func (t *thermo) reconfigure(tc ThermostatConfig) error {
	cfg, err := tc.controlConfig()
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ctrl.SetConfig(cfg); err != nil {
		return err
	}
	t.cfg = tc
	t.stepLocked("config", "")
	return nil
}

func (t *thermo) now() time.Duration { return t.d.clock.Since(t.start) }

func (t *thermo) entity(cfg thermostat.Config) hub.Entity {
	modes := []string{"off"}
	if cfg.HasHeat {
		modes = append(modes, "heat")
	}
	if cfg.HasCool {
		modes = append(modes, "cool")
	}
	if cfg.HasHeat && cfg.HasCool {
		modes = append(modes, "auto")
	}
	if cfg.HasFan {
		modes = append(modes, "fan_only")
	}
	sp := func(name string) hub.AttrSpec {
		return hub.AttrSpec{Name: name, Type: hub.TypeNumber, Unit: "°C", Ranged: true, Min: cfg.MinSetpoint, Max: cfg.MaxSetpoint, Step: 0.5, Writable: true}
	}
	var presetNames []string
	for _, p := range t.presets {
		presetNames = append(presetNames, p.Name)
	}
	return hub.Entity{
		ID: t.id, Name: t.cfg.Name, Handler: hub.HandlerFunc(t.handle),
		Attrs: []hub.AttrSpec{
			{Name: "mode", Type: hub.TypeEnum, Options: modes, Writable: true},
			{Name: "fan_mode", Type: hub.TypeEnum, Options: []string{"auto", "on", "circulate"}, Writable: true},
			sp("target"), sp("target_low"), sp("target_high"),
			{Name: "current", Type: hub.TypeNumber, Unit: "°C"},
			{Name: "humidity", Type: hub.TypeNumber, Unit: "%"},
			{Name: "action", Type: hub.TypeEnum, Options: []string{"off", "idle", "heating", "cooling", "fan"}},
			{Name: "reason", Type: hub.TypeString},
			{Name: "alerts", Type: hub.TypeString},
			{Name: "preset", Type: hub.TypeString},
			{Name: "hold_until", Type: hub.TypeString},
		},
		Actions: []hub.ActionSpec{{Name: "preset", Args: []hub.AttrSpec{
			{Name: "preset", Type: hub.TypeEnum, Options: presetNames, Required: true},
			{Name: "until", Type: hub.TypeTime},
		}}},
	}
}

// handle carries out a command and steps at once, so that the answer
// already shows what the thermostat does about it.
func (t *thermo) handle(_ context.Context, cmd hub.Command) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch cmd.Action {
	case hub.ActionSet:
		s := t.settings
		for name, v := range cmd.Args {
			switch name {
			case "mode":
				s.Mode = thermostat.Mode(v.Text())
			case "fan_mode":
				s.Fan = thermostat.FanMode(v.Text())
			case "target":
				s.Target, _ = v.Float()
			case "target_low":
				s.TargetLow, _ = v.Float()
			case "target_high":
				s.TargetHigh, _ = v.Float()
			}
		}
		if err := t.ctrl.SetSettings(s); err != nil {
			return &hub.ValidationError{Entity: t.id, Field: firstArg(cmd.Args), Reason: err.Error()}
		}
		t.settings = s
		t.persist(settingsKey(t.id), s)
	case "preset":
		name := cmd.Args["preset"].Text()
		i := slices.IndexFunc(t.presets, func(p thermostat.Preset) bool { return p.Name == name })
		if i < 0 {
			return &hub.ValidationError{Entity: t.id, Field: "preset", Reason: fmt.Sprintf("no preset %q", name)}
		}
		if err := t.ctrl.ApplyPreset(t.presets[i], cmd.Args["until"].TimeValue()); err != nil {
			return &hub.ValidationError{Entity: t.id, Field: "preset", Reason: err.Error()}
		}
	}
	t.stepLocked(cmd.Source, cmd.Principal)
	return nil
}

func firstArg(args map[string]hub.Value) string {
	for _, k := range []string{"mode", "target", "target_low", "target_high", "fan_mode"} {
		if _, ok := args[k]; ok {
			return k
		}
	}
	return ""
}

// fresh returns each sensor's latest reading, stamped with when it was
// last read, not when its value last changed: a steady temperature is a
// fresh one. A sensor that is unavailable gives none.
func (t *thermo) fresh() []thermostat.Reading {
	t.readings = t.readings[:0]
	for _, sid := range t.cfg.Sensors {
		snap, ok := t.d.hub.Get(hub.ID(sid))
		at, read := t.d.lastRead(hub.ID(sid))
		if !ok || !snap.Available || !read {
			continue
		}
		if v, ok := snap.Attrs["temperature"]; ok {
			f, _ := v.Float()
			t.readings = append(t.readings, thermostat.Reading{Sensor: sid, Celsius: f, At: at.Sub(t.start)})
		}
	}
	if t.cfg.Humidity != "" {
		t.humidity = math.NaN()
		if snap, ok := t.d.hub.Get(hub.ID(t.cfg.Humidity)); ok && snap.Available {
			if v, ok := snap.Attrs["humidity"]; ok {
				t.humidity, _ = v.Float()
			}
		}
	}
	return t.readings
}

func (t *thermo) run(ctx context.Context) {
	beat := t.d.hub.Liveness().Register("thermostat "+string(t.id), time.Second)
	defer beat.Done()
	defer t.sub.Close()
	tick := t.d.clock.NewTicker(time.Second)
	defer tick.Stop()
	var buf []hub.Event
	for {
		beat.Tick()
		select {
		case <-ctx.Done():
			t.allOff()
			return
		case <-t.sub.Ready():
			// A sensor changed: step now rather than at the next tick.
			buf, _ = t.sub.Drain(buf)
		case <-tick.Chan():
		}
		t.step()
	}
}

func (t *thermo) step() {
	t.steps.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stepLocked("control", "")
}

// stepLocked decides and applies. A panic in the controller turns every
// relay off and is reported; the loop carries on.
func (t *thermo) stepLocked(source string, cause hub.Principal) {
	defer func() {
		if p := recover(); p != nil {
			t.log.Error("thermostat step panicked: every relay off", "panic", p)
			t.allOffLocked()
			_, _ = t.d.hub.Update(t.id, "control", "", map[string]hub.Value{"action": hub.Enum("off"), "reason": hub.String(fmt.Sprintf("internal error: %v; all off", p))})
		}
	}()
	readings := t.fresh()
	dec := t.ctrl.Step(t.now(), t.d.clock.Now(), readings, t.actual(), t.unavail)
	// The switch times are on disk before the relays move, so that a crash
	// between the two can only make a restart wait longer, never less.
	if mem := t.ctrl.Memory(); mem != t.mem {
		t.mem = mem
		t.persist(memKey(t.id), mem)
	}
	t.apply(dec.Out)
	s := t.ctrl.Settings()
	attrs := map[string]hub.Value{
		"mode": hub.Enum(string(s.Mode)), "fan_mode": hub.Enum(string(s.Fan)),
		"target": hub.Number(s.Target, "°C"), "target_low": hub.Number(s.TargetLow, "°C"), "target_high": hub.Number(s.TargetHigh, "°C"),
		"action": hub.Enum(string(dec.Action)), "reason": hub.String(dec.Reason),
		"alerts": hub.String(strings.Join(dec.Alerts, "; ")),
	}
	preset, until := t.ctrl.Hold()
	attrs["preset"] = hub.String(preset)
	attrs["hold_until"] = hub.String("")
	if !until.IsZero() {
		attrs["hold_until"] = hub.String(until.Format(time.RFC3339))
	}
	if !math.IsNaN(dec.Current) {
		attrs["current"] = hub.Number(math.Round(dec.Current*100)/100, "°C")
	}
	if !math.IsNaN(t.humidity) {
		attrs["humidity"] = hub.Number(t.humidity, "%")
	}
	if a := strings.Join(dec.Alerts, "; "); a != t.alerts {
		if a != "" {
			t.log.Warn("thermostat alert", "alerts", a)
		}
		t.alerts = a
	}
	if _, err := t.d.hub.Update(t.id, source, cause, attrs); err != nil {
		t.log.Error("update", "err", err)
	}
}

// actual is what the relays are, as far as their drivers know.
func (t *thermo) actual() thermostat.Outputs {
	on := func(name string) bool { r := t.relays[name]; return r != nil && r.On() }
	return thermostat.Outputs{Heat: on("heat"), Heat2: on("heat2"), Cool: on("cool"), Cool2: on("cool2"), Fan: on("fan"), Reversing: on("reversing")}
}

// apply writes the outputs: everything that goes off first, then what
// goes on, and heat or cool only once the other reads off.
func (t *thermo) apply(out thermostat.Outputs) {
	if out.Heat && out.Cool {
		t.log.Error("interlock: the controller asked for heat and cool together; all off")
		out = thermostat.Outputs{}
	}
	want := map[string]bool{"heat": out.Heat, "heat2": out.Heat2, "cool": out.Cool, "cool2": out.Cool2, "fan": out.Fan, "reversing": out.Reversing}
	un := map[string]*bool{"heat": &t.unavail.Heat, "heat2": &t.unavail.Heat2, "cool": &t.unavail.Cool, "cool2": &t.unavail.Cool2, "fan": &t.unavail.Fan, "reversing": &t.unavail.Reversing}
	set := func(name string, on bool) {
		r := t.relays[name]
		// An unavailable relay is written again each step until a write
		// (with its read-back) succeeds.
		if r == nil || r.On() == on && !*un[name] {
			return
		}
		if err := r.Set(on); err != nil {
			if !*un[name] {
				t.log.Error("relay failed", "relay", name, "err", err)
			}
			*un[name] = true
			return
		}
		*un[name] = false
	}
	for _, name := range []string{"heat2", "cool2", "heat", "cool", "reversing", "fan"} {
		if !want[name] {
			set(name, false)
		}
	}
	for _, name := range []string{"reversing", "heat", "cool", "heat2", "cool2", "fan"} {
		if !want[name] {
			continue
		}
		other := map[string]string{"heat": "cool", "heat2": "cool", "cool": "heat", "cool2": "heat"}[name]
		if o := t.relays[other]; o != nil && o.On() {
			t.log.Error("interlock: not switching on while the other is on", "relay", name, "other", other)
			continue
		}
		set(name, true)
	}
}

func (t *thermo) allOff() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.allOffLocked()
}

func (t *thermo) allOffLocked() {
	for name, r := range t.relays {
		if err := r.Set(false); err != nil {
			t.log.Error("relay off failed", "relay", name, "err", err)
		}
	}
}

func (t *thermo) persist(key string, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		err = t.d.db.PutKV(context.Background(), key, string(b))
	}
	if err != nil {
		t.log.Error("persist", "key", key, "err", err)
	}
}
