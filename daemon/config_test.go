package daemon

import (
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/hearth-hub/hearth/hub"
)

func fptr(f float64) *float64 { return &f }

// mustConfigError returns err as a *ConfigError or fails.
func mustConfigError(tb testing.TB, err error) *ConfigError {
	tb.Helper()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		tb.Fatalf("err = %v (%T), want a *ConfigError", err, err)
	}
	return ce
}

func TestConfig_Default(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	if got, want := c.StorePath(), "/var/lib/hearthd/hearth.db"; got != want {
		t.Errorf("StorePath()=%q, want %q", got, want)
	}
	c.Store.Path = "/srv/h.db"
	if got, want := c.StorePath(), "/srv/h.db"; got != want {
		t.Errorf("StorePath()=%q, want %q", got, want)
	}
}

func TestConfig_Empty(t *testing.T) {
	for _, src := range []string{"", "\n", "# nothing set\n", "---\n", "\ufeff# with a byte order mark\n"} {
		c, err := ParseConfig(strings.NewReader(src))
		if err != nil {
			t.Fatalf("ParseConfig(%q): %v", src, err)
		}
		if !reflect.DeepEqual(c, DefaultConfig()) {
			t.Errorf("ParseConfig(%q) = %+v, want the defaults", src, c)
		}
	}
}

func TestConfig_Example(t *testing.T) {
	c, err := LoadConfig("../examples/sim.yaml")
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if got, want := c.File, "../examples/sim.yaml"; got != want {
		t.Errorf("File=%q, want %q", got, want)
	}
	if got, want := c.StateDir, "./var"; got != want {
		t.Errorf("StateDir=%q, want %q", got, want)
	}
	if got, want := c.API.Socket, "./var/hearthd.sock"; got != want {
		t.Errorf("API.Socket=%q, want %q", got, want)
	}
	if got, want := c.StorePath(), "var/hearth.db"; got != want {
		t.Errorf("StorePath()=%q, want %q", got, want)
	}
	if got, want := c.Log.Level, "info"; got != want {
		t.Errorf("Log.Level=%q, want %q", got, want)
	}
	specs, err := c.VirtualSpecs()
	if err != nil {
		t.Fatalf("VirtualSpecs: %v", err)
	}
	if len(specs) < 3 {
		t.Fatalf("%d virtual entities, want at least 3", len(specs))
	}
	for _, s := range specs {
		if _, err := s.Entity(); err != nil {
			t.Errorf("%s: Entity(): %v", s.ID, err)
		}
	}
}

func TestConfig_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want func(c *Config)
	}{
		{"state_dir", "state_dir: /tmp/h", func(c *Config) { c.StateDir = "/tmp/h" }},
		{"log.level", "log: {level: debug}", func(c *Config) { c.Log.Level = "debug" }},
		{"log.format", "log:\n  format: json", func(c *Config) { c.Log.Format = "json" }},
		{"api.socket", "api:\n  socket: /tmp/h.sock", func(c *Config) { c.API.Socket = "/tmp/h.sock" }},
		{"api.socket_mode string", `api: {socket_mode: "0600"}`, func(c *Config) { c.API.SocketMode = 0o600 }},
		{"api.socket_mode chmod string", `api: {socket_mode: "644"}`, func(c *Config) { c.API.SocketMode = 0o644 }},
		{"api.socket_mode int", "api: {socket_mode: 0640}", func(c *Config) { c.API.SocketMode = 0o640 }},
		{"api.socket_mode 0o", "api: {socket_mode: 0o700}", func(c *Config) { c.API.SocketMode = 0o700 }},
		{"api.socket_mode !!str", "api: {socket_mode: !!str 0660}", func(c *Config) { c.API.SocketMode = 0o660 }},
		{"api.tcp", "api:\n  tcp: 127.0.0.1:0\n  token_file: /tmp/t", func(c *Config) {
			c.API.TCP, c.API.TokenFile = "127.0.0.1:0", "/tmp/t"
		}},
		{"api.tcp ipv6", "api:\n  tcp: '[::1]:8080'\n  token_file: t", func(c *Config) {
			c.API.TCP, c.API.TokenFile = "[::1]:8080", "t"
		}},
		{"store.path", "store: {path: /data/h.db}", func(c *Config) { c.Store.Path = "/data/h.db" }},
		{"store.batch_interval", "store: {batch_interval: 250ms}", func(c *Config) { c.Store.BatchInterval = Duration(250 * time.Millisecond) }},
		{"store.batch_size", "store: {batch_size: 1_000}", func(c *Config) { c.Store.BatchSize = 1000 }},
		{"store.raw_retention days", "store: {raw_retention: 2d12h}", func(c *Config) { c.Store.RawRetention = Duration(60 * time.Hour) }},
		{"store.downsample_step", "store: {downsample_step: 1h}", func(c *Config) { c.Store.DownsampleStep = Duration(time.Hour) }},
		{"store.downsampled_retention 0", "store: {downsampled_retention: 0}", func(c *Config) { c.Store.DownsampledRetention = 0 }},
		{"store.downsampled_retention", "store: {downsampled_retention: 730d}", func(c *Config) { c.Store.DownsampledRetention = Duration(730 * 24 * time.Hour) }},
		{"bus.queue_size", "bus: {queue_size: 1024}", func(c *Config) { c.Bus.QueueSize = 1024 }},
		{"null section keeps defaults", "store:\nbus: ~", func(c *Config) {}},
		{"tagged", "store: !!map {batch_size: !!int 10}", func(c *Config) { c.Store.BatchSize = 10 }},
		{"number", "virtual:\n- id: number.t\n  name: T\n  min: -5\n  max: 25.5\n  step: 0.5\n  unit: °C\n  initial: 16", func(c *Config) {
			c.Virtual = []VirtualConfig{{ID: "number.t", Name: "T", Min: fptr(-5), Max: fptr(25.5), Step: 0.5, Unit: "°C", Initial: int64(16)}}
		}},
		{"boolean", "virtual: [{id: boolean.b, initial: true}]", func(c *Config) {
			c.Virtual = []VirtualConfig{{ID: "boolean.b", Initial: true}}
		}},
		{"select", "virtual:\n- id: select.s\n  options:\n  - a\n  - b\n  initial: b", func(c *Config) {
			c.Virtual = []VirtualConfig{{ID: "select.s", Options: []string{"a", "b"}, Initial: "b"}}
		}},
		{"text", "virtual:\n- id: text.n\n  initial: |\n    hello", func(c *Config) {
			c.Virtual = []VirtualConfig{{ID: "text.n", Initial: "hello"}}
		}},
		{"anchors and merge keys", "virtual:\n- &t {id: number.a, min: 0, max: 10, unit: '%'}\n- <<: *t\n  id: number.b\n- id: select.c\n  options: &o [x, y]\n- {id: select.d, options: *o}", func(c *Config) {
			c.Virtual = []VirtualConfig{
				{ID: "number.a", Min: fptr(0), Max: fptr(10), Unit: "%"},
				{ID: "number.b", Min: fptr(0), Max: fptr(10), Unit: "%"},
				{ID: "select.c", Options: []string{"x", "y"}},
				{ID: "select.d", Options: []string{"x", "y"}},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig(strings.NewReader(tt.src))
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			want := DefaultConfig()
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ParseConfig()=\n%+v\nwant\n%+v", got, want)
			}
			// What we write, we read back the same.
			out, err := yaml.Marshal(got)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			again, err := ParseConfig(strings.NewReader(string(out)))
			if err != nil {
				t.Fatalf("ParseConfig(Marshal()): %v\n%s", err, out)
			}
			if !reflect.DeepEqual(again, want) {
				t.Fatalf("ParseConfig(Marshal())=\n%+v\nwant\n%+v\nfrom\n%s", again, want, out)
			}
		})
	}
}

func TestConfig_Bad(t *testing.T) {
	tests := []struct {
		file  string
		line  int
		field string
		msg   string
	}{
		{"bad_unknown_top.yaml", 3, "logging", "unknown field (known: api, bus, hardware, locks, log, mqtt, state_dir, store, thermostats, virtual)"},
		{"bad_unknown_nested.yaml", 4, "store.batch_sise", "unknown field; did you mean batch_size? (known: batch_interval, batch_size,"},
		{"bad_type_int.yaml", 3, "store.batch_size", `want an integer, got string "lots"`},
		{"bad_duration.yaml", 3, "store.batch_interval", `want a duration like "1s", "5m", "168h" or "7d", got "5 minutes"`},
		{"bad_duration_unitless.yaml", 3, "store.raw_retention", "want a duration with a unit"},
		{"bad_batch_size.yaml", 4, "store.batch_size", "must be between 1 and 100000, got 0"},
		{"bad_queue_size.yaml", 3, "bus.queue_size", "must be between 1024 and 4194304, got 100"},
		{"bad_tcp_no_token.yaml", 2, "api.token_file", "is required when api.tcp is set"},
		{"bad_tcp_addr.yaml", 3, "api.tcp", `port must be a number from 1 to 65535 (or 0 for any free port), got "70000"`},
		{"bad_tcp_no_port.yaml", 3, "api.tcp", `want host:port, like 127.0.0.1:8080, got "localhost"`},
		{"bad_socket_mode_decimal.yaml", 3, "api.socket_mode", "got 660: write it with a leading 0"},
		{"bad_socket_mode_wide.yaml", 3, "api.socket_mode", "must be within 0777, got 01777"},
		{"bad_socket_mode_owner.yaml", 3, "api.socket_mode", "must give the owner read and write (0600), got 0440"},
		{"bad_number_no_max.yaml", 4, "virtual[1].max", "is required for a number helper"},
		{"bad_min_above_max.yaml", 5, "virtual[0].max", "must be above min (25), got 5"},
		{"bad_initial_range.yaml", 7, "virtual[0].initial", "must be between min and max (5 and 25), got 30"},
		{"bad_select_no_options.yaml", 3, "virtual[0].options", "is required for a select helper"},
		{"bad_initial_not_option.yaml", 5, "virtual[0].initial", `want one of the options (home, away, night), got "holiday"`},
		{"bad_id_uppercase.yaml", 3, "virtual[0].id", "only a-z, 0-9 and _ are allowed"},
		{"bad_id_no_dot.yaml", 3, "virtual[0].id", "want <kind>.<name>"},
		{"bad_id_kind.yaml", 3, "virtual[0].id", `kind "lock" cannot be virtual (want one of boolean, number, select, text)`},
		{"bad_duplicate_id.yaml", 5, "virtual[2].id", `duplicate id "boolean.guest_mode": virtual[0] has it already`},
		{"bad_downsampled_retention.yaml", 4, "store.downsampled_retention", "must be 0 (keep forever) or longer than raw_retention (720h), got 720h"},
		{"bad_downsample_step.yaml", 3, "store.downsample_step", "must divide 24h evenly"},
		{"bad_syntax.yaml", 4, "", "could not find end character of double-quoted text"},
		{"bad_duplicate_key.yaml", 5, "store.batch_size", "duplicate key (first at line 3)"},
		{"bad_log_level.yaml", 3, "log.level", `must be one of debug, info, warn, error; got "verbose"`},
		{"bad_text_initial_type.yaml", 4, "virtual[0].initial", "want a string, got integer 42"},
		{"bad_option_for_number.yaml", 6, "virtual[0].options", "only select helpers have options"},
		{"bad_not_mapping.yaml", 2, "virtual", "want a list, got a mapping"},
		{"bad_hw_unknown_driver.yaml", 5, "hardware.parts[0].driver", `unknown driver "dht22" (known: bme280, bolt, contact,`},
		{"bad_hw_sht3x_addr.yaml", 7, "hardware.parts[0].addr", "sht3x answers only at 0x44, 0x45, got 0x40"},
		{"bad_hw_relay_no_pin.yaml", 4, "hardware.parts[0].pin", "is required for relay"},
		{"bad_hw_contact_pull.yaml", 7, "hardware.parts[0].pull", `must be up, down or none, got "sideways"`},
		{"bad_hw_expander_kind.yaml", 10, "hardware.parts[1].expander", `part "hall" is a sht3x, not an mcp23017`},
		{"bad_hw_strike_relay.yaml", 6, "hardware.parts[0].relay", `no part named "gate_relay"`},
		{"bad_hw_entity_kind.yaml", 8, "hardware.parts[0].entity", `a bme280 part is shown as a sensor.<name> entity, got "switch.hall"`},
		{"bad_hw_field_not_applicable.yaml", 7, "hardware.parts[0].debounce", "does not apply to a relay part"},
		{"bad_hw_backend.yaml", 3, "hardware.backend", `must be one of sim, periph; got "arduino"`},
		{"bad_ctl_unknown_sensor.yaml", 7, "thermostats[0].sensors[0]", `no sensor part has entity "sensor.living_room"`},
		{"bad_ctl_relay_is_contact.yaml", 9, "thermostats[0].heat", `part "door" is a contact, not a relay`},
		{"bad_ctl_relay_has_entity.yaml", 9, "thermostats[0].heat", `part "heat" also has entity switch.heat`},
		{"bad_ctl_min_off.yaml", 10, "thermostats[0].compressor_min_off", "between"},
		{"bad_ctl_mode.yaml", 10, "thermostats[0].mode", "cool needs a cool relay"},
		{"bad_ctl_lock_both.yaml", 10, "locks[0]", "has both a bolt and a strike"},
		{"bad_mqtt_listen.yaml", 3, "mqtt.listen", `want host:port, like 127.0.0.1:1883, got "localhost"`},
		{"bad_mqtt_tls_listen.yaml", 5, "mqtt.tls.listen", `port must be a number from 1 to 65535 (or 0 for any free port), got "88830"`},
		{"bad_mqtt_tls_no_cert.yaml", 4, "mqtt.tls.cert", "is required when mqtt.tls.listen is set: the PEM certificate chain file"},
		{"bad_mqtt_tls_no_key.yaml", 4, "mqtt.tls.key", "is required when mqtt.tls.listen is set: the PEM private key file"},
		{"bad_mqtt_tls_no_broker.yaml", 4, "mqtt.tls.listen", "needs mqtt.listen: the broker runs only when mqtt.listen is set"},
		{"bad_mqtt_client_ca_no_tls.yaml", 5, "mqtt.tls.client_ca", "needs mqtt.tls.listen: client certificates are checked only on the TLS listener"},
		{"bad_mqtt_websocket_listen.yaml", 5, "mqtt.websocket.listen", `want host:port, like 127.0.0.1:8083, got "ws://127.0.0.1:8083/"`},
		{"bad_mqtt_websocket_no_broker.yaml", 4, "mqtt.websocket.listen", "needs mqtt.listen: the broker runs only when mqtt.listen is set"},
		{"bad_mqtt_max_packet_size.yaml", 4, "mqtt.max_packet_size", "must be between 1024 and 268435455 bytes (MQTT's limit), got 512"},
		{"bad_mqtt_max_packet_size_large.yaml", 4, "mqtt.max_packet_size", "must be between 1024 and 268435455 bytes (MQTT's limit), got 300000000"},
		{"bad_mqtt_client_rate.yaml", 3, "mqtt.client_rate", "want messages a second, 0 (no limit) or more, got -5"},
		{"bad_mqtt_client_burst.yaml", 4, "mqtt.client_burst", "must be at least 1 when mqtt.client_rate is set, got 0"},
		{"bad_ctl_lock_id.yaml", 8, "locks[0].id", `want lock.<name>, got "door.front"`},
		{"bad_mqtt_device_no_listen.yaml", 3, "mqtt.devices", "foreign devices need the broker: set mqtt.listen"},
		{"bad_mqtt_device_kind.yaml", 5, "mqtt.devices[0].id", `a foreign device is a sensor or a contact, got "switch.plug"`},
		{"bad_mqtt_device_clash.yaml", 12, "mqtt.devices[0].id", "sensor.hall is already declared by hardware.parts[0]"},
		{"bad_mqtt_device_duplicate.yaml", 8, "mqtt.devices[1].id", "contact.back_door is already declared by mqtt.devices[0]"},
		{"bad_mqtt_device_topic_reserved.yaml", 8, "mqtt.devices[0].attributes[0].topic", `"hearth/sensor/hall/state" is under hearth/, Hearth's own topics`},
		{"bad_mqtt_device_topic_invalid.yaml", 8, "mqtt.devices[0].attributes[0].topic", `"devices/#/temperature" is not a valid MQTT topic filter`},
		{"bad_mqtt_device_path.yaml", 9, "mqtt.devices[0].attributes[0].path", `no leading $ in JSON path "contact"`},
		{"bad_mqtt_device_unit.yaml", 10, "mqtt.devices[0].attributes[0].unit", "only a number has a unit, and this is a bool"},
		{"bad_mqtt_device_contact_attr.yaml", 7, "mqtt.devices[0].attributes[0].name", `a contact has one attribute, "closed", got "open"`},
		{"bad_mqtt_device_type.yaml", 10, "mqtt.devices[0].attributes[0].type", `must be one of number, bool, string; got "integer"`},
		{"bad_mqtt_device_stale.yaml", 6, "mqtt.devices[0].stale_after", "must be 0 (never stale) or at least 100ms, got 10ms"},
		{"bad_mqtt_device_availability.yaml", 9, "mqtt.devices[0].availability.offline", `must differ from online ("1")`},
		{"bad_mqtt_device_no_attributes.yaml", 5, "mqtt.devices[0].attributes", "is required: at least one {name, topic}"},
		{"bad_mqtt_device_no_id.yaml", 5, "mqtt.devices[0].id", "is required: sensor.<name> or contact.<name>"},
		{"bad_mqtt_device_attr_duplicate.yaml", 8, "mqtt.devices[0].attributes[1].name", `duplicate attribute "temperature": attributes[0] has it already`},
		{"bad_mqtt_device_no_topic.yaml", 7, "mqtt.devices[0].attributes[0].topic", "is required: the topic the device publishes this value on"},
		{"bad_mqtt_device_topic_wildcard.yaml", 8, "mqtt.devices[0].attributes[0].topic", `"+/garage/temperature" starts with a wildcard`},
		{"bad_mqtt_device_invert.yaml", 9, "mqtt.devices[0].attributes[0].invert", "only a bool can be inverted, and this is a number"},
		{"bad_mqtt_device_sensor_bool.yaml", 10, "mqtt.devices[0].attributes[0].type", "make a true/false device a contact"},
		{"bad_mqtt_device_availability_no_topic.yaml", 6, "mqtt.devices[0].availability.topic", "is required with the other availability settings"},
	}
	covered := map[string]bool{"bad_three_errors.yaml": true} // TestConfig_AllErrors
	for _, tt := range tests {
		covered[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "config", tt.file)
			_, err := LoadConfig(path)
			ce := mustConfigError(t, err)
			if len(ce.Errs) != 1 {
				t.Fatalf("%d errors, want 1:\n%v", len(ce.Errs), err)
			}
			fe := ce.Errs[0]
			if fe.File != path || fe.Line != tt.line || fe.Column == 0 || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.msg) {
				t.Fatalf("got %s:%d:%d %q %q\nwant %s:%d:* %q containing %q", fe.File, fe.Line, fe.Column, fe.Field, fe.Msg, path, tt.line, tt.field, tt.msg)
			}
			prefix := path + ":" + strconv.Itoa(tt.line) + ":"
			if !strings.HasPrefix(err.Error(), prefix) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Error()=%q, want one line starting %q", err.Error(), prefix)
			}
		})
	}
	files, err := filepath.Glob(filepath.Join("testdata", "config", "bad_*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s is not in the table", f)
		}
	}
}

func TestConfig_AllErrors(t *testing.T) {
	_, err := LoadConfig(filepath.Join("testdata", "config", "bad_three_errors.yaml"))
	ce := mustConfigError(t, err)
	want := []struct {
		line  int
		field string
		msg   string
	}{
		{2, "stat_dir", "did you mean state_dir?"},
		{4, "store.batch_size", "must be between 1 and 100000"},
		{6, "virtual[0].max", "is required"},
	}
	if len(ce.Errs) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(ce.Errs), len(want), err)
	}
	for i, w := range want {
		if fe := ce.Errs[i]; fe.Line != w.line || fe.Field != w.field || !strings.Contains(fe.Msg, w.msg) {
			t.Errorf("error %d = %v, want line %d, %s, %q", i, fe, w.line, w.field, w.msg)
		}
	}
	if got, want := strings.Count(err.Error(), "\n"), 2; got != want {
		t.Errorf("Error() has %d newlines, want %d:\n%v", got, want, err)
	}
}

// Decoding problems that Validate would echo are reported once.
func TestConfig_DecodeErrorsNotRepeated(t *testing.T) {
	src := "virtual:\n- id: number.x\n  min: low\n  max: 10\n- id: 7\n  options: [a, 5]\n"
	_, err := ParseConfig(strings.NewReader(src))
	ce := mustConfigError(t, err)
	var got []string
	for _, fe := range ce.Errs {
		got = append(got, fe.Error())
	}
	want := []string{
		`3:3: virtual[0].min: want a number, got string "low"`,
		`5:3: virtual[1].id: want a string, got integer 7`,
		`6:16: virtual[1].options[1]: want a string, got integer 5`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("errors:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestConfig_ParseErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string // the whole Error()
	}{
		{"just text", `1:1: want a mapping, got string "just text"`},
		{"log: {level: loud}\n---\nstate_dir: x\n", "1:7: log.level: must be one of debug, info, warn, error; got \"loud\"\n2:1: want one YAML document, found a second"},
		{"virtual:\n- id: boolean.x\n  <<: ~", "3:7: virtual[0]: << wants a mapping or a list of mappings, got null"},
		{"store: [1]", "1:1: store: want a mapping, got a list"},
		{"store:\n  batch_size: {a: 1}", "2:3: store.batch_size: want an integer, got a mapping"},
		{"store:\n  batch_size: 10000000000000000000", "2:3: store.batch_size: 10000000000000000000 is too large"},
		{"store: {batch_size: 1.5}", "1:9: store.batch_size: want an integer, got number 1.5"},
		{"api: {socket_mode: 0x1ff}", `1:7: api.socket_mode: want an octal mode like 0660 or "0660", got "0x1ff"`},
		{"api: {socket_mode: true}", `1:7: api.socket_mode: want an octal mode like 0660 or "0660", got true`},
		{"virtual:\n- id: number.x\n  <<: *nope", "3:7: virtual[0]: unknown alias *nope"},
		{"virtual: [{id: number.x, min: 1, max: .inf}]", "1:34: virtual[0].max: must be a finite number, got +Inf"},
	}
	for _, tt := range tests {
		_, err := ParseConfig(strings.NewReader(tt.src))
		mustConfigError(t, err)
		if got := err.Error(); got != tt.want {
			t.Errorf("ParseConfig(%q):\n got %s\nwant %s", tt.src, got, tt.want)
		}
	}
}

func TestConfig_LoadMissing(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

// A Config built in code is validated the same way, with no positions.
func TestConfig_ValidateInCode(t *testing.T) {
	c := DefaultConfig()
	c.StateDir = ""
	c.Log.Format = "xml"
	c.API.Socket = ""
	c.Store.BatchInterval = Duration(time.Millisecond)
	c.Store.RawRetention = Duration(time.Minute)
	c.Store.DownsampleStep = Duration(48 * time.Hour)
	c.Virtual = []VirtualConfig{
		{ID: "number.a", Min: fptr(0), Max: fptr(1), Step: 2, Initial: 0.5},
		{ID: "number.b", Min: fptr(math.NaN()), Max: fptr(1), Initial: "x"},
		{ID: "boolean.c", Min: fptr(1), Unit: "V", Initial: 1},
		{ID: "select.d", Options: []string{"a", "", "a"}, Initial: 1},
		{ID: "text.e", Initial: strings.Repeat("x", 256)},
		{},
	}
	want := []string{
		"state_dir: must not be empty",
		`log.format: must be one of text, json; got "xml"`,
		"api.socket: must not be empty",
		"store.batch_interval: must be between 10ms and 1m, got 1ms",
		"store.raw_retention: must be at least 1h, got 1m",
		"store.downsample_step: must be between 1m and 24h, got 48h",
		"store.downsample_step: must divide 24h evenly (1m, 5m, 15m, 1h...), got 48h",
		"virtual[0].step: must be at most max-min (1), got 2",
		"virtual[1].min: must be a finite number, got NaN",
		"virtual[1].initial: want a number, got string \"x\"",
		"virtual[2].min: only number helpers have min",
		"virtual[2].unit: only number helpers have unit",
		"virtual[2].initial: want true or false, got 1",
		"virtual[3].options[1]: must not be empty",
		`virtual[3].options[2]: duplicate option "a"`,
		"virtual[3].initial: want one of the options, got 1",
		"virtual[4].initial: must be at most 255 bytes, got 256",
		"virtual[5].id: is required: <kind>.<name>, like number.away_temperature",
	}
	ce := mustConfigError(t, c.Validate())
	var got []string
	for _, fe := range ce.Errs {
		if fe.Line != 0 || fe.File != "" {
			t.Errorf("%v: has a position", fe)
		}
		got = append(got, fe.Error())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("errors:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := c.VirtualSpecs(); err == nil {
		t.Errorf("VirtualSpecs() of invalid entries: no error")
	}
}

func TestConfig_VirtualSpecs(t *testing.T) {
	c := DefaultConfig()
	c.Virtual = []VirtualConfig{
		{ID: "number.t", Name: "T", Min: fptr(5), Max: fptr(25), Step: 0.5, Unit: "°C", Initial: 16},
		{ID: "number.u", Min: fptr(0), Max: fptr(1)},
		{ID: "boolean.g", Initial: true},
		{ID: "select.m", Options: []string{"home", "away"}, Initial: "away"},
		{ID: "text.n", Initial: "hi"},
	}
	specs, err := c.VirtualSpecs()
	if err != nil {
		t.Fatal(err)
	}
	want := []hub.VirtualSpec{
		{ID: "number.t", Name: "T", Min: 5, Max: 25, Step: 0.5, Unit: "°C", Initial: hub.Number(16, "°C")},
		{ID: "number.u", Min: 0, Max: 1},
		{ID: "boolean.g", Initial: hub.Bool(true)},
		{ID: "select.m", Options: []string{"home", "away"}, Initial: hub.Enum("away")},
		{ID: "text.n", Initial: hub.String("hi")},
	}
	if !reflect.DeepEqual(specs, want) {
		t.Fatalf("VirtualSpecs()=\n%+v\nwant\n%+v", specs, want)
	}
}

func TestConfig_Duration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1s", time.Second, true},
		{"10ms", 10 * time.Millisecond, true},
		{"1h30m", 90 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"0", 0, true},
		{"-1h", -time.Hour, true}, // Validate's business
		{"", 0, false},
		{"d", 0, false},
		{"-1d", 0, false},
		{"1.5d", 0, false},
		{"1d-1h", 0, false},
		{"5 minutes", 0, false},
		{"1w", 0, false},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tt.in))
		if got := err == nil; got != tt.ok || time.Duration(d) != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, ok %v", tt.in, time.Duration(d), err, tt.want, tt.ok)
		}
	}
	for d, want := range map[time.Duration]string{
		168 * time.Hour: "168h", 5 * time.Minute: "5m", 90 * time.Minute: "1h30m",
		10 * time.Millisecond: "10ms", 0: "0s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String()=%q, want %q", d, got, want)
		}
	}
}

func TestConfig_FileMode(t *testing.T) {
	tests := []struct {
		in   string
		want FileMode
		ok   bool
	}{
		{"0660", 0o660, true},
		{"660", 0o660, true},
		{"0o600", 0o600, true},
		{"0", 0, true},
		{"", 0, false},
		{"0689", 0, false},
		{"-660", 0, false},
		{"rw-rw----", 0, false},
	}
	for _, tt := range tests {
		var m FileMode
		err := m.UnmarshalText([]byte(tt.in))
		if got := err == nil; got != tt.ok || m != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, ok %v", tt.in, m, err, tt.want, tt.ok)
		}
	}
	for m, want := range map[FileMode]string{0o660: "0660", 0o1777: "01777", 0o7: "0007", 0: "0000"} {
		if got := m.String(); got != want {
			t.Errorf("FileMode(%o).String()=%q, want %q", uint32(m), got, want)
		}
	}
}
