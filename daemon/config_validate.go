package daemon

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-hub/hearth/hub"
)

// problems collects FieldErrors.
type problems struct {
	file string
	errs []*FieldError
}

func (p *problems) add(field, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// err is nil when there is nothing to report, never a nil *ConfigError.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return &ConfigError{Errs: p.errs}
}

// Validate checks the configuration's values and returns a *ConfigError
// listing every problem, or nil. Positions are filled in by ParseConfig;
// here they are unknown.
func (c *Config) Validate() error {
	p := &problems{file: c.File}
	if c.StateDir == "" {
		p.add("state_dir", "must not be empty")
	}
	p.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	p.oneOf("log.format", c.Log.Format, "text", "json")
	c.validateAPI(p)
	c.validateStore(p)
	if q := c.Bus.QueueSize; q < 1024 || q > 4194304 {
		p.add("bus.queue_size", "must be between 1024 and 4194304, got %d", q)
	}
	c.validateVirtual(p)
	c.validateHardware(p)
	c.validateControl(p)
	c.validateMQTT(p)
	return p.err()
}

func (p *problems) oneOf(field, got string, allowed ...string) {
	if !slices.Contains(allowed, got) {
		p.add(field, "must be one of %s; got %q", strings.Join(allowed, ", "), got)
	}
}

func (c *Config) validateAPI(p *problems) {
	a := &c.API
	if a.Socket == "" {
		p.add("api.socket", "must not be empty")
	}
	switch m := a.SocketMode; {
	case m > 0o777:
		p.add("api.socket_mode", "must be within 0777, got %v", m)
	case m&0o600 != 0o600:
		p.add("api.socket_mode", "must give the owner read and write (0600), got %v", m)
	}
	if a.TCP == "" {
		return
	}
	if a.TokenFile == "" {
		p.add("api.token_file", "is required when api.tcp is set: the file holding the bearer token")
	}
	p.hostPort("api.tcp", a.TCP, "127.0.0.1:8080")
}

// hostPort checks a listen address, like example.
func (p *problems) hostPort(field, addr, example string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		p.add(field, "want host:port, like %s, got %q", example, addr)
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port != strconv.FormatUint(n, 10) {
		p.add(field, "port must be a number from 1 to 65535 (or 0 for any free port), got %q", port)
	}
}

func (c *Config) validateStore(p *problems) {
	s := &c.Store
	between := func(field string, got, lo, hi Duration) {
		if got < lo || got > hi {
			p.add(field, "must be between %v and %v, got %v", lo, hi, got)
		}
	}
	between("store.batch_interval", s.BatchInterval, Duration(10*time.Millisecond), Duration(time.Minute))
	if s.BatchSize < 1 || s.BatchSize > 100000 {
		p.add("store.batch_size", "must be between 1 and 100000, got %d", s.BatchSize)
	}
	if s.RawRetention < Duration(time.Hour) {
		p.add("store.raw_retention", "must be at least 1h, got %v", s.RawRetention)
	}
	day := Duration(24 * time.Hour)
	between("store.downsample_step", s.DownsampleStep, Duration(time.Minute), day)
	if s.DownsampleStep >= Duration(time.Minute) && day%s.DownsampleStep != 0 {
		p.add("store.downsample_step", "must divide 24h evenly (1m, 5m, 15m, 1h...), got %v", s.DownsampleStep)
	}
	if r := s.DownsampledRetention; r != 0 && r <= s.RawRetention {
		p.add("store.downsampled_retention", "must be 0 (keep forever) or longer than raw_retention (%v), got %v", s.RawRetention, r)
	}
}

// validateVirtual checks the virtual entities, as Validate and VirtualSpecs need.
func (c *Config) validateVirtual(p *problems) {
	seen := map[string]int{}
	for i := range c.Virtual {
		v := &c.Virtual[i]
		at := fmt.Sprintf("virtual[%d]", i)
		if v.ID == "" {
			p.add(at+".id", "is required: <kind>.<name>, like number.away_temperature")
			continue
		}
		id, err := hub.ParseID(v.ID)
		if err != nil {
			p.add(at+".id", "%v", err)
			continue
		}
		if !slices.Contains(hub.VirtualKinds, id.Kind()) {
			p.add(at+".id", "kind %q cannot be virtual (want one of %s)", id.Kind(), strings.Join(hub.VirtualKinds, ", "))
			continue
		}
		if first, dup := seen[v.ID]; dup {
			p.add(at+".id", "duplicate id %q: virtual[%d] has it already", v.ID, first)
		} else {
			seen[v.ID] = i
		}
		v.validate(p, at, id.Kind())
	}
}

func (v *VirtualConfig) validate(p *problems, at, kind string) {
	only := func(field, only string) {
		p.add(at+"."+field, "only %s helpers have %s", only, field)
	}
	if kind != hub.VirtualNumber {
		if v.Min != nil {
			only("min", "number")
		}
		if v.Max != nil {
			only("max", "number")
		}
		if v.Step != 0 {
			only("step", "number")
		}
		if v.Unit != "" {
			only("unit", "number")
		}
	}
	if kind != hub.VirtualSelect && v.Options != nil {
		only("options", "select")
	}
	switch kind {
	case hub.VirtualNumber:
		v.validateNumber(p, at)
	case hub.VirtualBoolean:
		if _, ok := v.Initial.(bool); v.Initial != nil && !ok {
			p.add(at+".initial", "want true or false, got %s", describe(v.Initial))
		}
	case hub.VirtualSelect:
		v.validateSelect(p, at)
	case hub.VirtualText:
		s, ok := v.Initial.(string)
		switch {
		case v.Initial != nil && !ok:
			p.add(at+".initial", "want a string, got %s (quote it)", describe(v.Initial))
		case len(s) > 255:
			p.add(at+".initial", "must be at most 255 bytes, got %d", len(s))
		}
	}
}

func (v *VirtualConfig) validateNumber(p *problems, at string) {
	finite := func(field string, f *float64) bool {
		switch {
		case f == nil:
			p.add(at+"."+field, "is required for a number helper")
			return false
		case math.IsNaN(*f) || math.IsInf(*f, 0):
			p.add(at+"."+field, "must be a finite number, got %v", *f)
			return false
		}
		return true
	}
	okMin, okMax := finite("min", v.Min), finite("max", v.Max)
	ranged := okMin && okMax
	if ranged && *v.Max <= *v.Min {
		p.add(at+".max", "must be above min (%s), got %s", fmtFloat(*v.Min), fmtFloat(*v.Max))
		ranged = false
	}
	switch {
	case v.Step < 0 || math.IsNaN(v.Step) || math.IsInf(v.Step, 0):
		p.add(at+".step", "must be a positive number, got %v", v.Step)
	case ranged && v.Step > *v.Max-*v.Min:
		p.add(at+".step", "must be at most max-min (%s), got %s", fmtFloat(*v.Max-*v.Min), fmtFloat(v.Step))
	}
	if v.Initial == nil {
		return
	}
	f, ok := toFloat(v.Initial)
	switch {
	case !ok:
		p.add(at+".initial", "want a number, got %s", describe(v.Initial))
	case math.IsNaN(f) || math.IsInf(f, 0):
		p.add(at+".initial", "must be a finite number, got %v", f)
	case ranged && (f < *v.Min || f > *v.Max):
		p.add(at+".initial", "must be between min and max (%s and %s), got %s", fmtFloat(*v.Min), fmtFloat(*v.Max), fmtFloat(f))
	}
}

func (v *VirtualConfig) validateSelect(p *problems, at string) {
	if len(v.Options) == 0 {
		p.add(at+".options", "is required for a select helper: the list of choices")
	}
	for j, o := range v.Options {
		switch {
		case o == "":
			p.add(fmt.Sprintf("%s.options[%d]", at, j), "must not be empty")
		case slices.Index(v.Options, o) < j:
			p.add(fmt.Sprintf("%s.options[%d]", at, j), "duplicate option %q", o)
		}
	}
	if v.Initial == nil {
		return
	}
	s, ok := v.Initial.(string)
	switch {
	case !ok:
		p.add(at+".initial", "want one of the options, got %s", describe(v.Initial))
	case len(v.Options) > 0 && !slices.Contains(v.Options, s):
		p.add(at+".initial", "want one of the options (%s), got %q", strings.Join(v.Options, ", "), s)
	}
}

// toFloat reads any Go number.
func toFloat(x any) (float64, bool) {
	switch x := x.(type) {
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
