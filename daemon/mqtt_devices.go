package daemon

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearth-hub/hearth/broker"
	"github.com/hearth-hub/hearth/hub"
)

// badPayloadLogEvery is how often one device's bad payloads are logged:
// a device gone wrong may publish garbage many times a second.
const badPayloadLogEvery = time.Minute

// mqttDevice keeps one foreign device's entity up to date from its topics.
type mqttDevice struct {
	d     *Daemon
	id    hub.ID
	cfg   MQTTDeviceConfig
	attrs []deviceAttr
	path  []jsonStep // availability's
	log   *slog.Logger
	bad   prometheus.Counter

	mu        sync.Mutex
	last      time.Time // of the last message on any of its topics
	seen      bool      // a message has come
	stale     bool
	offline   error     // what the availability topic last said, nil for online
	badSince  int       // bad payloads since the last one logged
	badLogged time.Time // when a bad payload was last logged; zero: never
}

// deviceAttr is one attribute and where its value comes from.
type deviceAttr struct {
	MQTTAttributeConfig
	typ  hub.Type
	unit string
	path []jsonStep
}

// startMQTTDevices registers the foreign devices' entities and subscribes
// to their topics; the subscriptions start with the broker. Validate has
// made sure that the broker runs when there are devices.
func (d *Daemon) startMQTTDevices(cfg MQTTConfig) error {
	if len(cfg.Devices) == 0 {
		return nil
	}
	if d.broker == nil {
		return errors.New("mqtt.devices: the broker does not run (mqtt.listen is empty)")
	}
	bad := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hearth_mqtt_device_bad_payloads_total",
		Help: "Payloads from foreign MQTT devices that could not be read (not JSON, a missing path, a wrong type), by entity.",
	}, []string{"entity"})
	if err := d.metrics.reg.Register(bad); err != nil {
		return fmt.Errorf("mqtt devices: metrics: %w", err)
	}
	var devs []*mqttDevice
	for i := range cfg.Devices {
		dv, err := d.attachMQTTDevice(cfg.Devices[i], bad)
		if err != nil {
			return fmt.Errorf("mqtt.devices[%d] %s: %w", i, cfg.Devices[i].ID, err)
		}
		devs = append(devs, dv)
	}
	d.loops = append(d.loops, staleLoop(d, devs))
	return nil
}

func (d *Daemon) attachMQTTDevice(cfg MQTTDeviceConfig, bad *prometheus.CounterVec) (*mqttDevice, error) {
	id, err := hub.ParseID(cfg.ID)
	if err != nil {
		return nil, err
	}
	dv := &mqttDevice{d: d, id: id, cfg: cfg, log: d.log.With("component", "mqtt-device", "entity", cfg.ID), bad: bad.WithLabelValues(cfg.ID)}
	var specs []hub.AttrSpec
	topics := []string{}
	for _, a := range cfg.Attributes {
		da := deviceAttr{MQTTAttributeConfig: a}
		if da.typ, err = hub.ParseType(a.typeFor(id.Kind())); err != nil {
			return nil, fmt.Errorf("attribute %s: %w", a.Name, err)
		}
		if da.typ == hub.TypeNumber {
			da.unit = a.unit()
		}
		if da.path, err = parseJSONPath(a.Path); err != nil {
			return nil, fmt.Errorf("attribute %s: %w", a.Name, err)
		}
		dv.attrs = append(dv.attrs, da)
		specs = append(specs, hub.AttrSpec{Name: a.Name, Type: da.typ, Unit: da.unit})
		topics = appendNew(topics, a.Topic)
	}
	if t := cfg.Availability.Topic; t != "" {
		if dv.path, err = parseJSONPath(cfg.Availability.Path); err != nil {
			return nil, fmt.Errorf("availability: %w", err)
		}
		topics = appendNew(topics, t)
	}
	if err := d.hub.Register(hub.Entity{ID: id, Name: cfg.Name, Attrs: specs}, nil); err != nil {
		return nil, err
	}
	dv.last = d.clock.Now()
	dv.mu.Lock()
	dv.publishAvailability()
	dv.mu.Unlock()
	for _, t := range topics {
		if err := d.broker.Subscribe(t, func(m broker.Message) { dv.receive(t, m) }); err != nil {
			return nil, err
		}
	}
	return dv, nil
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// receive handles one message on filter, one of the device's topics.
func (dv *mqttDevice) receive(filter string, m broker.Message) {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	dv.last, dv.seen, dv.stale = dv.d.clock.Now(), true, false
	if m.Retained && !m.Published.IsZero() && m.Published.Before(dv.last) {
		// A retained value from before a restart is as old as it is:
		// staleness counts from when it was published.
		dv.last = m.Published
	}
	var errs []error
	if dv.cfg.Availability.Topic == filter {
		if err := dv.availability(m); err != nil {
			errs = append(errs, err)
		}
	}
	vals := map[string]hub.Value{}
	for _, a := range dv.attrs {
		if a.Topic != filter {
			continue
		}
		v, err := decodeDeviceValue(m.Payload, a.path, a.typ, a.unit, a.Invert)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", m.Topic, a.Name, err))
			continue
		}
		vals[a.Name] = v
	}
	if len(vals) > 0 {
		cause := hub.Principal("mqtt:" + m.User)
		if m.User == "" {
			cause = "mqtt:retained"
		}
		if _, err := dv.d.hub.Update(dv.id, "mqtt", cause, vals); err != nil {
			errs = append(errs, err)
		}
	}
	for _, err := range errs {
		dv.badPayload(err)
	}
	dv.publishAvailability()
}

// availability reads an availability message.
func (dv *mqttDevice) availability(m broker.Message) error {
	a := dv.cfg.Availability
	on, off := cmp.Or(a.Online, "online"), cmp.Or(a.Offline, "offline")
	v, err := decodeDeviceValue(m.Payload, dv.path, hub.TypeString, "", false)
	if err != nil {
		return fmt.Errorf("%s: availability: %w", m.Topic, err)
	}
	switch v.Text() {
	case on:
		dv.offline = nil
	case off:
		dv.offline = fmt.Errorf("%s said %s", m.Topic, off)
	default:
		return fmt.Errorf("%s: availability: %s is neither %q nor %q", m.Topic, describePayload([]byte(v.Text())), on, off)
	}
	return nil
}

// publishAvailability tells the hub what the device's state makes of it.
func (dv *mqttDevice) publishAvailability() {
	var err error
	switch {
	case dv.offline != nil:
		err = dv.offline
	case !dv.seen:
		err = fmt.Errorf("no message yet on %s", strings.Join(dv.topicList(), ", "))
	case dv.stale:
		err = fmt.Errorf("no message for %v", time.Duration(dv.cfg.StaleAfter))
	}
	_ = dv.d.hub.SetAvailable(dv.id, "mqtt", err)
}

func (dv *mqttDevice) topicList() []string {
	var ts []string
	for _, a := range dv.attrs {
		ts = appendNew(ts, a.Topic)
	}
	return ts
}

// badPayload counts a message that could not be read and logs it, at
// most once a minute per device with the number left unlogged.
func (dv *mqttDevice) badPayload(err error) {
	dv.bad.Inc()
	now := dv.d.clock.Now()
	if !dv.badLogged.IsZero() && now.Sub(dv.badLogged) < badPayloadLogEvery {
		dv.badSince++
		return
	}
	dv.log.Warn("bad mqtt payload: the last value stays", "err", err, "unlogged_since_last", dv.badSince)
	dv.badLogged, dv.badSince = now, 0
}

// checkStale marks the device stale when its last message is too old.
func (dv *mqttDevice) checkStale(now time.Time) {
	limit := time.Duration(dv.cfg.StaleAfter)
	if limit == 0 {
		return
	}
	dv.mu.Lock()
	defer dv.mu.Unlock()
	if !dv.stale && dv.seen && now.Sub(dv.last) >= limit {
		dv.stale = true
		dv.log.Info("no message for the stale_after limit: entity unavailable", "stale_after", limit)
		dv.publishAvailability()
	}
}

// staleLoop checks the devices with a stale_after limit, at a tenth of
// the shortest one (within 50ms and 5s).
func staleLoop(d *Daemon, devs []*mqttDevice) partLoop {
	every := 5 * time.Second
	for _, dv := range devs {
		if s := time.Duration(dv.cfg.StaleAfter); s > 0 {
			every = min(every, max(s/10, 50*time.Millisecond))
		}
	}
	return func(ctx context.Context) {
		beat := d.hub.Liveness().Register("mqtt devices staleness", every)
		defer beat.Done()
		t := d.clock.NewTicker(every)
		defer t.Stop()
		for {
			beat.Tick()
			select {
			case <-ctx.Done():
				return
			case <-t.Chan():
				now := d.clock.Now()
				for _, dv := range devs {
					dv.checkStale(now)
				}
			}
		}
	}
}

// decodeDeviceValue reads one value of type typ from a device's payload:
// the value at path in JSON, or with no path the whole payload, JSON or
// plain text. Numbers may come as strings ("21.5") and must be finite;
// bools are true/false, 1/0, or the strings on/off, true/false, 1/0 and
// closed/open (any case), closed being true; invert flips a bool.
func decodeDeviceValue(payload []byte, path []jsonStep, typ hub.Type, unit string, invert bool) (hub.Value, error) {
	if len(payload) > maxDevicePayload {
		return hub.Value{}, fmt.Errorf("payload of %d bytes is over the %d-byte limit", len(payload), maxDevicePayload)
	}
	var x any
	if err := json.Unmarshal(payload, &x); err != nil {
		if path != nil {
			return hub.Value{}, fmt.Errorf("%s is not JSON, so it has no %s", describePayload(payload), formatPath(path))
		}
		// Plain text, like ESPHome's 21.5 or ON.
		if !utf8.Valid(payload) {
			return hub.Value{}, errors.New("payload is not UTF-8 text")
		}
		x = string(bytes.TrimSpace(payload))
	}
	for i, st := range path {
		switch c := x.(type) {
		case map[string]any:
			v, ok := c[st.key]
			if st.key == "" || !ok {
				return hub.Value{}, fmt.Errorf("%s: not in the payload", formatPath(path[:i+1]))
			}
			x = v
		case []any:
			if st.key != "" || st.index >= len(c) {
				return hub.Value{}, fmt.Errorf("%s: not in the payload (a list of %d)", formatPath(path[:i+1]), len(c))
			}
			x = c[st.index]
		default:
			return hub.Value{}, fmt.Errorf("%s: not in the payload (%s holds %s)", formatPath(path[:i+1]), formatPath(path[:i]), describeJSONValue(x))
		}
	}
	switch typ {
	case hub.TypeNumber:
		f, ok := x.(float64)
		if s, isStr := x.(string); isStr {
			var err error
			f, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
			ok = err == nil || errors.Is(err, strconv.ErrRange) // ±Inf: refused below
		}
		switch {
		case !ok:
			return hub.Value{}, fmt.Errorf("want a number, got %s", describeJSONValue(x))
		case math.IsNaN(f) || math.IsInf(f, 0):
			return hub.Value{}, fmt.Errorf("want a finite number, got %v", f)
		}
		return hub.Number(f, unit), nil
	case hub.TypeBool:
		b, ok := readBool(x)
		if !ok {
			return hub.Value{}, fmt.Errorf("want true/false, on/off, 1/0 or closed/open, got %s", describeJSONValue(x))
		}
		return hub.Bool(b != invert), nil
	case hub.TypeString:
		var s string
		switch v := x.(type) {
		case string:
			s = v
		case float64:
			s = strconv.FormatFloat(v, 'g', -1, 64)
		case bool:
			s = strconv.FormatBool(v)
		default:
			return hub.Value{}, fmt.Errorf("want text, got %s", describeJSONValue(x))
		}
		if len(s) > 255 {
			return hub.Value{}, fmt.Errorf("text of %d bytes is over the 255-byte limit", len(s))
		}
		return hub.String(s), nil
	}
	return hub.Value{}, fmt.Errorf("attribute of type %v cannot come from mqtt", typ)
}

func readBool(x any) (bool, bool) {
	switch v := x.(type) {
	case bool:
		return v, true
	case float64:
		return v == 1, v == 0 || v == 1
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "on", "1", "closed":
			return true, true
		case "false", "off", "0", "open":
			return false, true
		}
	}
	return false, false
}

func formatPath(path []jsonStep) string {
	var b strings.Builder
	b.WriteString("$")
	for _, st := range path {
		if st.key != "" {
			b.WriteString("." + st.key)
		} else {
			fmt.Fprintf(&b, "[%d]", st.index)
		}
	}
	return b.String()
}

// describeJSONValue names a decoded JSON value for a message.
func describeJSONValue(x any) string {
	switch v := x.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	}
	return fmt.Sprint(x)
}

// describePayload quotes the start of a payload for a message.
func describePayload(p []byte) string {
	if len(p) > 40 {
		return fmt.Sprintf("payload %q... (%d bytes)", p[:40], len(p))
	}
	return fmt.Sprintf("payload %q", p)
}
