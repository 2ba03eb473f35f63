package daemon

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-hub/hearth/hub"
)

// Config is hearthd's configuration, read from one YAML file. Defaults are
// in brackets; DefaultConfig returns them.
type Config struct {
	File        string             `yaml:"-"`         // where it was read from, for messages
	StateDir    string             `yaml:"state_dir"` // [/var/lib/hearthd]
	Log         LogConfig          `yaml:"log"`
	API         APIConfig          `yaml:"api"`
	Store       StoreConfig        `yaml:"store"`
	Bus         BusConfig          `yaml:"bus"`
	Virtual     []VirtualConfig    `yaml:"virtual"`
	Hardware    HardwareConfig     `yaml:"hardware"`
	MQTT        MQTTConfig         `yaml:"mqtt"`
	Thermostats []ThermostatConfig `yaml:"thermostats"`
	Locks       []LockConfig       `yaml:"locks"`
}

// LogConfig says what the daemon logs and how.
type LogConfig struct {
	Level  string `yaml:"level"`  // [info] debug|info|warn|error
	Format string `yaml:"format"` // [text] text|json
}

// APIConfig says where the local API listens.
type APIConfig struct {
	Socket     string   `yaml:"socket"`      // [/run/hearthd/hearthd.sock]
	SocketMode FileMode `yaml:"socket_mode"` // [0660]; the owner must have read and write
	TCP        string   `yaml:"tcp"`         // [""] optional host:port for the API and /metrics; port 0 picks a free one
	TokenFile  string   `yaml:"token_file"`  // [""] required with tcp: the file holding the bearer token
}

// StoreConfig tunes the SQLite store and its history.
type StoreConfig struct {
	Path                 string   `yaml:"path"`                  // [""] for <state_dir>/hearth.db; see Config.StorePath
	BatchInterval        Duration `yaml:"batch_interval"`        // [1s] 10ms..1m
	BatchSize            int      `yaml:"batch_size"`            // [500] 1..100000
	RawRetention         Duration `yaml:"raw_retention"`         // [168h] at least 1h
	DownsampleStep       Duration `yaml:"downsample_step"`       // [5m] 1m..24h, dividing 24h evenly
	DownsampledRetention Duration `yaml:"downsampled_retention"` // [8760h] 0 keeps forever; else above raw_retention
}

// BusConfig tunes the event bus.
type BusConfig struct {
	QueueSize int `yaml:"queue_size"` // [65536] events per subscriber queue, 1024..4194304
}

// VirtualConfig declares a virtual entity (a helper): a value people and
// rules can set, with no hardware behind it.
type VirtualConfig struct {
	ID      string   `yaml:"id"`      // <kind>.<name>; kind is one of hub.VirtualKinds
	Name    string   `yaml:"name"`    // optional, for people
	Min     *float64 `yaml:"min"`     // number: required
	Max     *float64 `yaml:"max"`     // number: required, above min
	Step    float64  `yaml:"step"`    // number: optional, in (0, max-min]
	Unit    string   `yaml:"unit"`    // number: optional
	Options []string `yaml:"options"` // select: required, unique, none empty
	// Initial is the value before anyone sets it, optional. From YAML it
	// holds an int64, a float64, a bool or a string; in code any Go number
	// will do. It must fit the kind: a number in range, a bool, one of the
	// options, or a string of at most 255 bytes.
	Initial any `yaml:"initial"`
}

// DefaultConfig returns the configuration used for anything a file leaves out.
func DefaultConfig() *Config {
	return &Config{
		StateDir: "/var/lib/hearthd",
		Log:      LogConfig{Level: "info", Format: "text"},
		API: APIConfig{
			Socket:     "/run/hearthd/hearthd.sock",
			SocketMode: 0o660,
		},
		Store: StoreConfig{
			BatchInterval:        Duration(time.Second),
			BatchSize:            500,
			RawRetention:         Duration(7 * 24 * time.Hour),
			DownsampleStep:       Duration(5 * time.Minute),
			DownsampledRetention: Duration(365 * 24 * time.Hour),
		},
		Bus:      BusConfig{QueueSize: 65536},
		MQTT:     MQTTConfig{MaxPacketSize: 256 << 10, ClientRate: 1000, ClientBurst: 5000},
		Hardware: HardwareConfig{Backend: BackendSim, Sim: SimConfig{Speed: 1, Outside: 5, Room: 19}},
	}
}

// StorePath is the SQLite file: store.path, or hearth.db in the state directory.
func (c *Config) StorePath() string {
	if c.Store.Path != "" {
		return c.Store.Path
	}
	return filepath.Join(c.StateDir, "hearth.db")
}

// LoadConfig reads and validates the file at path. Problems in the file
// come back as a *ConfigError whose lines start "path:line:column:".
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := ParseConfig(f)
	var ce *ConfigError
	if errors.As(err, &ce) {
		for _, e := range ce.Errs {
			e.File = path
		}
	}
	if err != nil {
		return nil, err
	}
	c.File = path
	return c, nil
}

// ParseConfig reads YAML over DefaultConfig, strictly (an unknown or
// repeated key is an error), then validates the result. Problems come back
// as a *ConfigError listing all of them, each with its line and column.
// An empty document is the default configuration.
func ParseConfig(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c := DefaultConfig()
	d, err := decodeConfig(bytes.TrimPrefix(data, []byte("\ufeff")), c)
	if err != nil {
		return nil, err // a syntax error: nothing was decoded
	}
	errs := d.errs
	var ve *ConfigError
	if errors.As(c.Validate(), &ve) {
		for _, e := range ve.Errs {
			if d.failed(e.Field) {
				continue // already reported, and its value is the default
			}
			e.Line, e.Column = d.locate(e.Field)
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *FieldError) int {
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
		})
		return nil, &ConfigError{Errs: errs}
	}
	return c, nil
}

// VirtualSpecs returns the virtual entities to register with the hub. It
// checks the entries as Validate does and fails the same way.
func (c *Config) VirtualSpecs() ([]hub.VirtualSpec, error) {
	var p problems
	p.file = c.File
	c.validateVirtual(&p)
	if err := p.err(); err != nil {
		return nil, err
	}
	specs := make([]hub.VirtualSpec, 0, len(c.Virtual))
	for _, v := range c.Virtual {
		s := hub.VirtualSpec{ID: hub.ID(v.ID), Name: v.Name, Step: v.Step, Unit: v.Unit, Options: slices.Clone(v.Options)}
		if v.Min != nil && v.Max != nil {
			s.Min, s.Max = *v.Min, *v.Max
		}
		if v.Initial != nil {
			switch s.ID.Kind() {
			case hub.VirtualNumber:
				f, _ := toFloat(v.Initial)
				s.Initial = hub.Number(f, v.Unit)
			case hub.VirtualBoolean:
				s.Initial = hub.Bool(v.Initial.(bool))
			case hub.VirtualSelect:
				s.Initial = hub.Enum(v.Initial.(string))
			case hub.VirtualText:
				s.Initial = hub.String(v.Initial.(string))
			}
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// FieldError is one problem with one setting.
type FieldError struct {
	File   string // "" when not read from a file
	Line   int    // 0 when unknown, as for a Config built in code
	Column int
	Field  string // the YAML path: "store.batch_size", "virtual[2].max"; "" for a syntax error
	Msg    string // why
}

// Error reads "sim.yaml:12:3: store.batch_size: must be between 1 and
// 100000, got 0", leaving out the parts that are unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ConfigError lists every problem found in a configuration.
type ConfigError struct{ Errs []*FieldError }

// Error gives one problem per line.
func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Errs))
	for i, fe := range e.Errs {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the *FieldErrors.
func (e *ConfigError) Unwrap() []error {
	errs := make([]error, len(e.Errs))
	for i, fe := range e.Errs {
		errs[i] = fe
	}
	return errs
}

// Duration is a time.Duration written in YAML as a Go duration string
// ("10ms", "1s", "5m", "1h30m", "168h"), optionally led by a whole number of
// days ("7d", "1d12h"). A bare 0 is accepted too; other bare numbers are
// not, as they would have no unit.
type Duration time.Duration

// String gives the shortest Go form: "168h", "5m", "1h30m", "10ms".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf(`want a duration like "1s", "5m", "168h" or "7d", got %q`, s)
	days, rest, ok := strings.Cut(s, "d") // no Go duration unit has a d
	if !ok {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad
		}
		return d, nil
	}
	n, err := strconv.ParseUint(days, 10, 16) // 65535 days fit in a Duration
	if err != nil {
		return 0, bad
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 {
			return 0, bad
		}
		d += r
	}
	return d, nil
}

// FileMode is a file's permission bits, written in YAML in octal: 0660,
// 0o660 or the string "0660" (a string may leave out the leading 0, as
// chmod does). A decimal integer such as 660 is refused rather than
// guessed at.
type FileMode os.FileMode

// String gives the mode in octal with a leading 0: "0660", "01777".
func (m FileMode) String() string {
	s := strconv.FormatUint(uint64(m), 8)
	return "0" + strings.Repeat("0", max(0, 3-len(s))) + s
}

// MarshalText implements encoding.TextMarshaler.
func (m FileMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *FileMode) UnmarshalText(b []byte) error {
	v, err := parseMode(string(b), true)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// parseMode reads octal digits. Unless bare is set, as it is for strings,
// the digits must start with 0 or 0o, as YAML's octal integers do.
func parseMode(s string, bare bool) (FileMode, error) {
	digits, ok := strings.CutPrefix(s, "0o")
	if !ok && !bare && !strings.HasPrefix(s, "0") {
		return 0, fmt.Errorf(`want an octal mode like 0660 or "0660", got %s: write it with a leading 0`, s)
	}
	n, err := strconv.ParseUint(digits, 8, 32)
	if err != nil { // no sign, no underscores, no empty string
		return 0, fmt.Errorf(`want an octal mode like 0660 or "0660", got %q`, s)
	}
	return FileMode(n), nil
}
