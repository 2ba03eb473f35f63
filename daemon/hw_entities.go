package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/hearth-hub/hearth/drivers/contact"
	"github.com/hearth-hub/hearth/drivers/i2cdev"
	"github.com/hearth-hub/hearth/drivers/relay"
	"github.com/hearth-hub/hearth/hub"
)

// What each sensor driver measures, and so which attributes its entity has.
var measures = map[string][]string{
	"sht3x":   {"temperature", "humidity"},
	"bme280":  {"temperature", "humidity", "pressure"},
	"mcp9808": {"temperature"},
}

var sensorAttrs = map[string]hub.AttrSpec{
	"temperature": {Name: "temperature", Type: hub.TypeNumber, Unit: "°C"},
	"humidity":    {Name: "humidity", Type: hub.TypeNumber, Unit: "%"},
	"pressure":    {Name: "pressure", Type: hub.TypeNumber, Unit: "hPa"},
}

type senser interface {
	Sense(e *physic.Env) error
	String() string
}

// partLoop is a loop that keeps one part's entity up to date.
type partLoop func(ctx context.Context)

// attachEntities registers the entity of every part that has one and
// returns the loops that keep them.
func (d *Daemon) attachEntities(hw *hardware, parts []PartConfig) ([]partLoop, error) {
	var loops []partLoop
	for i := range parts {
		p := &parts[i]
		if p.Entity == "" {
			continue
		}
		dev := hw.built[p.Name]
		id := hub.ID(p.Entity)
		log := d.log.With("component", "hardware", "part", p.Name, "entity", p.Entity)
		var loop partLoop
		var err error
		switch dev := dev.(type) {
		case senser:
			loop, err = d.attachSensor(id, p, dev, func() (senser, error) {
				x, err := drivers[p.Driver].build(hw, p)
				if err != nil {
					return nil, err
				}
				return x.(senser), nil
			}, log)
		case *contact.Dev:
			loop, err = d.attachContact(id, p, dev, log)
		case *relay.Dev:
			err = d.attachRelay(id, p, dev)
		default:
			err = fmt.Errorf("part %q (%s) has no entity to show", p.Name, p.Driver)
		}
		if err != nil {
			return nil, err
		}
		if loop != nil {
			loops = append(loops, loop)
		}
	}
	return loops, nil
}

// rebuildAfter is how many readings in a row must fail before a sensor's
// driver is set up anew: a chip that lost power has lost its configuration
// too, and only a new probe and setup bring it back.
const rebuildAfter = 3

func (d *Daemon) attachSensor(id hub.ID, p *PartConfig, s senser, rebuild func() (senser, error), log *slog.Logger) (partLoop, error) {
	names := measures[p.Driver]
	attrs := make([]hub.AttrSpec, 0, len(names))
	for _, n := range names {
		attrs = append(attrs, sensorAttrs[n])
	}
	if err := d.hub.Register(hub.Entity{ID: id, Name: p.Name, Attrs: attrs}, nil); err != nil {
		return nil, err
	}
	every := time.Duration(p.Interval)
	if every == 0 {
		every = 30 * time.Second
	}
	var failing string
	fails := 0
	read := func() {
		vals, err := readSensor(s, names)
		if err != nil {
			if msg := err.Error(); msg != failing {
				log.Warn("sensor reading failed: entity unavailable", "err", msg)
				failing = msg
			}
			_ = d.hub.SetAvailable(id, "hardware", err)
			if fails++; fails%rebuildAfter == 0 {
				if ns, err := rebuild(); err == nil {
					s = ns
				}
			}
			return
		}
		fails = 0
		if failing != "" {
			log.Info("sensor reading again: entity available")
			failing = ""
		}
		if _, err := d.hub.Update(id, "hardware", "", vals); err != nil {
			log.Error("update", "err", err)
		}
		_ = d.hub.SetAvailable(id, "hardware", nil)
		d.markRead(id)
	}
	// The first reading is taken now, so that what starts next (a
	// thermostat) starts on a fresh reading.
	read()
	return func(ctx context.Context) {
		beat := d.hub.Liveness().Register("sensor "+string(id), every)
		defer beat.Done()
		t := d.clock.NewTicker(every)
		defer t.Stop()
		for {
			beat.Tick()
			select {
			case <-ctx.Done():
				return
			case <-t.Chan():
				read()
			}
		}
	}, nil
}

// readSensor takes one reading and turns it into attribute values,
// refusing values no room can have (a sensor gone wrong, not the weather).
func readSensor(s senser, names []string) (map[string]hub.Value, error) {
	var e physic.Env
	if err := s.Sense(&e); err != nil {
		return nil, err
	}
	vals := make(map[string]hub.Value, len(names))
	for _, n := range names {
		var v float64
		var lo, hi, scale float64 // scale: 100 keeps hundredths
		switch n {
		case "temperature":
			v, lo, hi, scale = e.Temperature.Celsius(), -40, 85, 100
		case "humidity":
			v, lo, hi, scale = float64(e.Humidity)/float64(physic.PercentRH), 0, 100, 10
		case "pressure":
			v, lo, hi, scale = float64(e.Pressure)/float64(physic.Pascal)/100, 300, 1100, 10
		}
		if math.IsNaN(v) || v < lo || v > hi {
			return nil, fmt.Errorf("%s: %s %.2f is outside %g..%g: %w", s, n, v, lo, hi, i2cdev.ErrGarbage)
		}
		vals[n] = hub.Number(math.Round(v*scale)/scale, sensorAttrs[n].Unit)
	}
	return vals, nil
}

func (d *Daemon) attachContact(id hub.ID, p *PartConfig, c *contact.Dev, _ *slog.Logger) (partLoop, error) {
	closed, err := c.Closed()
	initial := map[string]hub.Value{}
	if err == nil {
		initial["closed"] = hub.Bool(closed)
	}
	e := hub.Entity{ID: id, Name: p.Name, Attrs: []hub.AttrSpec{{Name: "closed", Type: hub.TypeBool}}}
	if rerr := d.hub.Register(e, initial); rerr != nil {
		return nil, rerr
	}
	if err != nil {
		_ = d.hub.SetAvailable(id, "hardware", err)
	}
	d.contactEntity[p.Name] = id
	d.onContact(p.Name, func(closed bool) {
		_, _ = d.hub.Update(id, "hardware", "", map[string]hub.Value{"closed": hub.Bool(closed)})
		_ = d.hub.SetAvailable(id, "hardware", nil)
	})
	return nil, nil
}

// onContact adds a listener to a contact part's debounced changes.
func (d *Daemon) onContact(part string, fn func(closed bool)) {
	d.contactFns[part] = append(d.contactFns[part], fn)
}

// contactLoops returns one loop per contact part that anything listens to:
// a contact's edges can be watched only once, so its listeners share it.
func (d *Daemon) contactLoops() []partLoop {
	var loops []partLoop
	for part, fns := range d.contactFns {
		c := d.hw.built[part].(*contact.Dev)
		id, hasEntity := d.contactEntity[part]
		log := d.log.With("component", "hardware", "part", part)
		loops = append(loops, func(ctx context.Context) {
			for ctx.Err() == nil {
				err := c.Run(ctx, func(ev contact.Event) {
					for _, fn := range fns {
						fn(ev.Closed)
					}
				})
				if err == nil || errors.Is(err, context.Canceled) {
					return
				}
				log.Warn("contact failed; retrying", "err", err)
				if hasEntity {
					_ = d.hub.SetAvailable(id, "hardware", err)
				}
				select {
				case <-ctx.Done():
				case <-d.clock.After(time.Second):
				}
			}
		})
	}
	return loops
}

func (d *Daemon) attachRelay(id hub.ID, p *PartConfig, r *relay.Dev) error {
	handler := hub.HandlerFunc(func(_ context.Context, cmd hub.Command) error {
		on := cmd.Args["on"].BoolValue()
		if err := r.Set(on); err != nil {
			return err
		}
		_, err := d.hub.Update(id, cmd.Source, cmd.Principal, map[string]hub.Value{"on": hub.Bool(r.On())})
		return err
	})
	e := hub.Entity{ID: id, Name: p.Name, Handler: handler, Attrs: []hub.AttrSpec{{Name: "on", Type: hub.TypeBool, Writable: true}}}
	return d.hub.Register(e, map[string]hub.Value{"on": hub.Bool(r.On())})
}

// markRead records that a sensor entity's values were just read, changed
// or not, so that its readers can tell a steady value from a stale one.
func (d *Daemon) markRead(id hub.ID) {
	d.readMu.Lock()
	d.readAt[id] = d.clock.Now()
	d.readMu.Unlock()
}

// lastRead is when a sensor entity was last read successfully.
func (d *Daemon) lastRead(id hub.ID) (time.Time, bool) {
	d.readMu.Lock()
	defer d.readMu.Unlock()
	t, ok := d.readAt[id]
	return t, ok
}
