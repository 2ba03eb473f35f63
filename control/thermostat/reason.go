package thermostat

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Alert texts that do not depend on the config.
const (
	txtNoSensor  = "no fresh temperature reading: heating and cooling off"
	txtFreeze    = "freeze protection active"
	txtInterlock = "interlock tripped: heat and cool both on, both forced off"
)

// txtUnavailable are the alerts for relays that fail, in Outputs' order.
var txtUnavailable = [...]string{
	"heat relay unavailable", "heat2 relay unavailable", "cool relay unavailable",
	"cool2 relay unavailable", "fan relay unavailable", "reversing valve relay unavailable",
}

// texts are the alert texts that depend on the config, built once per
// config so that a step allocates nothing.
type texts struct {
	over, maxRunHeat, maxRunCool string
}

func newTexts(cfg Config) texts {
	return texts{
		over:       fmt.Sprintf("over-temperature cut-off: heating off above %g °C", cfg.OverTemp),
		maxRunHeat: fmt.Sprintf("max run exceeded: heating on for more than %s", cfg.MaxRun),
		maxRunCool: fmt.Sprintf("max run exceeded: cooling on for more than %s", cfg.MaxRun),
	}
}

type waitKind uint8

const (
	waitNone waitKind = iota
	waitMinOn
	waitUnconfirmed
	waitMinOff
	waitChangeover
	waitOther
	waitValve
	waitValveUnavailable
	waitReading
	fanOnly
	fanOn
	fanOverrun
	fanStopping
	fanCirculate
)

// wait is something that holds the equipment in a state, and for how long.
type wait struct {
	kind waitKind
	unit string // "compressor", "furnace"; "heating", "cooling" for waitOther and waitChangeover
	left time.Duration
}

// writeReason says why the action is what it is. The text is written into
// a reused buffer and becomes a new string only when it changes.
func (c *Controller) writeReason(a Action, sn sensing, st story) string {
	b := c.buf[:0]
	heatT, coolT := c.targets()
	switch {
	case st.interlock:
		b = append(b, txtInterlock...)
	case a == ActionHeating && st.heatHold.kind != waitNone:
		b = st.heatHold.append(b)
	case a == ActionHeating && !c.heatCall:
		b = append(b, "freeze protection: "...)
		b = appendTemp(b, sn.mean)
		b = append(b, ", below "...)
		b = appendTemp(b, c.cfg.Freeze)
	case a == ActionHeating:
		b = appendCall(b, "heating: ", sn.mean, heatT, st.stage2)
	case a == ActionCooling && st.coolHold.kind != waitNone:
		b = st.coolHold.append(b)
	case a == ActionCooling:
		b = appendCall(b, "cooling: ", sn.mean, coolT, st.stage2)
	case !st.fresh && c.set.Mode != ModeOff && c.set.Mode != ModeFanOnly:
		if sn.known {
			b = append(b, "sensor stale: all heating and cooling off"...)
		} else {
			b = append(b, "no sensor reading: all heating and cooling off"...)
		}
	case st.over:
		b = append(b, "over-temperature cut-off: "...)
		b = appendTemp(b, sn.hottest)
		b = append(b, ", above "...)
		b = appendTemp(b, c.cfg.OverTemp)
	case st.wait.kind != waitNone:
		b = st.wait.append(b)
	case a == ActionFan:
		b = st.fan.append(b)
	case a == ActionOff:
		b = append(b, "mode off"...)
	default:
		b = append(b, "idle: "...)
		b = appendTemp(b, sn.mean)
		switch c.set.Mode {
		case ModeAuto:
			b = append(b, ", range "...)
			b = appendNum(b, heatT)
			b = append(b, '-')
			b = appendTemp(b, coolT)
		case ModeHeat, ModeCool:
			b = append(b, ", target "...)
			b = appendTemp(b, heatT)
		}
	}
	c.buf = b
	if string(b) != c.reason { // compared without allocating
		c.reason = string(b)
	}
	return c.reason
}

func (w wait) append(b []byte) []byte {
	switch w.kind {
	case waitMinOn:
		return appendLeft(append(append(b, w.unit...), " min-on: "...), w.left)
	case waitUnconfirmed:
		return append(append(b, w.unit...), " min-on: held until its relay reads back on"...)
	case waitMinOff:
		return appendLeft(append(append(b, w.unit...), " min-off: "...), w.left)
	case waitChangeover:
		return appendLeft(append(append(append(b, "changeover delay after "...), w.unit...), ": "...), w.left)
	case waitOther:
		return append(append(append(b, "waiting for "...), w.unit...), " to stop"...)
	case waitValve:
		return append(b, "reversing valve moving before the compressor starts"...)
	case waitValveUnavailable:
		return append(b, "reversing valve relay unavailable: compressor not started"...)
	case waitReading:
		return append(append(append(b, "waiting for a fresh reading to start the "...), w.unit...), " for its minimum on time"...)
	case fanOnly:
		return append(b, "fan only"...)
	case fanOn:
		return append(b, "fan on"...)
	case fanOverrun:
		return appendLeft(append(b, "fan overrun: "...), w.left)
	case fanStopping:
		return append(b, "fan overrun: waiting for the equipment to read off"...)
	case fanCirculate:
		return appendLeft(append(b, "circulating: "...), w.left)
	}
	return b
}

func appendCall(b []byte, verb string, cur, target float64, stage2 bool) []byte {
	b = append(b, verb...)
	b = appendTemp(b, cur)
	b = append(b, ", target "...)
	b = appendTemp(b, target)
	if stage2 {
		b = append(b, ", stage 2"...)
	}
	return b
}

// appendNum writes °C to a tenth, without trailing zeros: 21, 19.2.
func appendNum(b []byte, v float64) []byte {
	v = math.Round(v*10) / 10
	if v == 0 {
		v = 0 // not "-0"
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

func appendTemp(b []byte, v float64) []byte { return append(appendNum(b, v), " °C"...) }

// appendLeft writes a time left in whole seconds, rounded up so that a
// wait never shows 0s: 2m40s, 40s, 1h0m5s.
func appendLeft(b []byte, d time.Duration) []byte {
	s := int64((d + time.Second - 1) / time.Second)
	h, m := s/3600, s/60%60
	s %= 60
	if h > 0 {
		b = append(strconv.AppendInt(b, h, 10), 'h')
	}
	if h > 0 || m > 0 {
		b = append(strconv.AppendInt(b, m, 10), 'm')
	}
	b = append(strconv.AppendInt(b, s, 10), 's')
	b = append(b, " left"...)
	return b
}
