package thermostat

import (
	"math"
	"slices"
	"time"
)

// Reading is one temperature reading of one sensor. At is the monotonic
// time it was taken, on the clock Step's now runs on.
type Reading struct {
	Sensor  string
	Celsius float64
	At      time.Duration
}

// What a reading must look like to be believed.
const (
	minPlausible = -40.0       // °C: below what indoor sensors are rated for
	maxPlausible = 85.0        // °C: above it; 85 is also a DS18B20's power-on value
	spikeJump    = 10.0        // °C: a room cannot change this much...
	spikeWindow  = time.Minute // ...this fast
)

type fault uint8

const (
	faultNone fault = iota
	faultImplausible
	faultSpike
	faultFuture
)

// sensor is what the controller keeps of one sensor.
type sensor struct {
	name    string
	inStep  bool          // among this step's readings
	seen    bool          // seenAt is set
	seenAt  time.Duration // the newest reading looked at
	fault   fault         // what was wrong with the latest reading
	good    bool          // a reading was accepted
	at      time.Duration // the last accepted reading
	celsius float64
	texts   [4]string // alert texts, built when first needed: stale, implausible, spike, future
}

// sensing sums up the fresh sensors.
type sensing struct {
	fresh   int
	mean    float64 // NaN if none fresh
	hottest float64
	newest  time.Duration // the newest accepted reading among the fresh
	known   bool          // some sensor has ever given a good reading
}

func (c *Controller) sensorFor(name string) *sensor {
	for i := range c.sensors {
		if c.sensors[i].name == name {
			return &c.sensors[i]
		}
	}
	c.sensors = append(c.sensors, sensor{name: name})
	return &c.sensors[len(c.sensors)-1]
}

// sense takes this step's readings, drops what cannot be true, and sums up
// the sensors that are fresh.
func (c *Controller) sense(now time.Duration, readings []Reading) sensing {
	for i := range c.sensors {
		c.sensors[i].inStep = false
	}
	for _, r := range readings {
		s := c.sensorFor(r.Sensor)
		s.inStep = true
		if s.seen && r.At <= s.seenAt {
			continue // looked at already, or older than one that was
		}
		v := r.Celsius
		switch {
		case math.IsNaN(v) || v < minPlausible || v > maxPlausible: // ±Inf fail the range
			s.fault = faultImplausible
		case r.At > now:
			s.fault = faultFuture // not remembered as seen: it may become true later
			continue
		case s.good && math.Abs(v-s.celsius) > spikeJump && r.At-s.at < spikeWindow:
			s.fault = faultSpike
		default:
			s.fault = faultNone
			s.good, s.at, s.celsius = true, r.At, v
		}
		s.seen, s.seenAt = true, r.At
	}
	// A sensor the daemon no longer passes is forgotten once it is stale.
	c.sensors = slices.DeleteFunc(c.sensors, func(s sensor) bool {
		return !s.inStep && !c.fresh(&s, now)
	})
	sn := sensing{mean: math.NaN(), hottest: math.Inf(-1)}
	sum := 0.0
	for i := range c.sensors {
		s := &c.sensors[i]
		sn.known = sn.known || s.good
		if !c.fresh(s, now) {
			continue
		}
		sn.fresh++
		sum += s.celsius
		sn.hottest = max(sn.hottest, s.celsius)
		if sn.fresh == 1 || s.at > sn.newest {
			sn.newest = s.at
		}
	}
	if sn.fresh > 0 {
		sn.mean = sum / float64(sn.fresh)
	}
	return sn
}

func (c *Controller) fresh(s *sensor, now time.Duration) bool {
	return s.good && now-s.at < c.cfg.StaleAfter
}

// sensorAlerts appends the alerts about single sensors.
func (c *Controller) sensorAlerts(now time.Duration) {
	for i := range c.sensors {
		s := &c.sensors[i]
		if s.fault != faultNone {
			c.alert(s.text(int(s.fault)))
		}
		if s.good && !c.fresh(s, now) {
			c.alert(s.text(0))
		}
	}
}

func (s *sensor) text(i int) string {
	if s.texts[i] == "" {
		s.texts[i] = "sensor " + s.name + ": " + [...]string{
			"stale", "implausible reading dropped", "spike dropped", "reading from the future dropped",
		}[i]
	}
	return s.texts[i]
}
