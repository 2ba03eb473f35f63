package thermostat

import "time"

// relay is what the controller believes of the heat or the cool relay, for
// its minimum times. Beliefs change only on what the relay reads back as,
// at the step after a command, so every switch time it records is the
// latest the switch can have happened: minimum times counted from them are
// never shorter than the real ones. A relay that cannot be read is assumed
// to be in its worst state: on, if it was on or had been told to go on; and
// if it was told to go on, only just on, so that its minimum on time runs
// from when it reads back on.
type relay struct {
	on        bool          // on, or possibly on
	doubt     bool          // unavailable at the last look
	tentative bool          // possibly on: told to go on, then unavailable
	ran       bool          // onAt is a real start (for Memory and the changeover delay)
	cmd       bool          // the last output
	askedAt   time.Duration // cmd last turned on
	onAt      time.Duration // the current or last run began (latest possible)
	runFrom   time.Duration // the current run began (earliest possible), for MaxRun
	offAt     time.Duration // the last run ended
}

// command records the output decided at now.
func (r *relay) command(now time.Duration, on bool) {
	if on && !r.cmd {
		r.askedAt = now
	}
	r.cmd = on
}

// lastOn is when the relay last started, counting a start that was asked
// for and not yet read back: Memory must show it at once, since the daemon
// may stop before the next step.
func (r *relay) lastOn() (time.Duration, bool) {
	if r.cmd && !r.on {
		return r.askedAt, true
	}
	return r.onAt, r.ran
}

// observe updates the beliefs from what the relay reads back as at now.
func (r *relay) observe(now time.Duration, unavailable, actual bool) {
	if unavailable {
		if r.cmd && !r.on {
			r.on, r.tentative, r.ran, r.runFrom = true, true, true, now
		}
		if r.tentative {
			// Each retried write may be the one that closes it: until it
			// reads back, its run may have begun only now.
			r.onAt = now
		}
		r.doubt = true
		return
	}
	switch {
	case actual && !r.on:
		r.on, r.ran, r.onAt, r.runFrom = true, true, now, now
	case actual && r.tentative:
		r.onAt = now // it may have come on only with the last write
	case !actual && r.on:
		r.on, r.offAt = false, now
	}
	r.doubt, r.tentative = false, false
}

// unit is a machine with minimum times: the compressor or the furnace.
type unit struct {
	name          string
	minOn, minOff time.Duration
}

// heatUnit is the machine the heat relay drives.
func (c *Controller) heatUnit() unit {
	if c.cfg.HeatPump {
		return unit{"compressor", c.cfg.CompMinOn, c.cfg.CompMinOff}
	}
	return unit{"furnace", c.cfg.HeatMinOn, c.cfg.HeatMinOff}
}

func (c *Controller) coolUnit() unit {
	return unit{"compressor", c.cfg.CompMinOn, c.cfg.CompMinOff}
}

// offSince is when the machine r belongs to last stopped: on a heat pump
// both relays drive the one compressor.
func (c *Controller) offSince(r *relay) time.Duration {
	if c.cfg.HeatPump {
		return max(c.heat.offAt, c.cool.offAt)
	}
	return r.offAt
}

// Memory is what must survive a restart of the daemon: the last switch
// times of the compressor and the furnace (the heat relay), as wall-clock
// times, since the monotonic clock restarts with the process. The daemon
// persists it whenever Controller.Memory changes and hands it back to New.
// A zero time is unknown.
type Memory struct {
	CompOn, CompOff, HeatOn, HeatOff time.Time
}

// Memory returns the switch times to persist. It changes only when a relay
// is told to start, is seen to switch, or the wall clock jumps (then it is
// restated on the new clock), and is zero while the wall clock is unknown.
// Persist it before writing the outputs of the Step that changed it: a
// start must be on disk before the relay closes.
func (c *Controller) Memory() Memory {
	if !c.wallKnown {
		return Memory{}
	}
	at := func(d time.Duration) time.Time { return c.wallBase.Add(d) }
	var m Memory
	compOn, compRan := c.cool.lastOn()
	compOff := c.cool.offAt
	heatOn, heatRan := c.heat.lastOn()
	if c.cfg.HeatPump {
		if heatRan && (!compRan || heatOn > compOn) {
			compOn, compRan = heatOn, true
		}
		compOff = max(compOff, c.heat.offAt)
	}
	if compRan {
		m.CompOn = at(compOn)
	}
	m.CompOff = at(compOff)
	if heatRan {
		m.HeatOn = at(heatOn)
	}
	m.HeatOff = at(c.heat.offAt)
	return m
}

// restore sets a relay's history from persisted times at New, all outputs
// being off. Unknown or future times count as now; so does the stop of a
// run that was still going when the daemon stopped (it ended when the
// relays went off, at an unknown time).
func restore(r *relay, on, off time.Time, now time.Duration, wall time.Time, wallOK bool) {
	conv := func(t time.Time) (time.Duration, bool) {
		if t.IsZero() || !wallOK || t.After(wall) {
			return now, false
		}
		return now - wall.Sub(t), true
	}
	r.offAt, _ = conv(off)
	if !on.IsZero() && (off.IsZero() || !on.Before(off)) {
		r.offAt = now
	}
	if at, ok := conv(on); ok {
		r.onAt, r.ran = at, true
	}
}

// noteWall keeps the wall time of monotonic zero, restating it only when
// the wall clock jumps, so that Memory stays put between switches.
func (c *Controller) noteWall(now time.Duration, wall time.Time) {
	if wall.IsZero() {
		return
	}
	base := wall.Round(0).Add(-now)
	if d := base.Sub(c.wallBase); !c.wallKnown || d > time.Second || d < -time.Second {
		c.wallBase, c.wallKnown = base, true
	}
}
