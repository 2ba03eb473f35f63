package daemon

import (
	"strings"
	"testing"

	"github.com/hearth-hub/hearth/hub"
)

func TestParseJSONPath(t *testing.T) {
	good := []struct{ in, want string }{
		{"", "$"},
		{"$", "$"},
		{"$.contact", "$.contact"},
		{"$.ENERGY.Power", "$.ENERGY.Power"},
		{"$.ENERGY.Voltage[0]", "$.ENERGY.Voltage[0]"},
		{"$[2]", "$[2]"},
		{"$.a[1][0].b", "$.a[1][0].b"},
		{"$.with-dash_and_1", "$.with-dash_and_1"},
	}
	for _, tt := range good {
		steps, err := parseJSONPath(tt.in)
		if err != nil {
			t.Errorf("parseJSONPath(%q) = %v", tt.in, err)
			continue
		}
		if got := formatPath(steps); got != tt.want {
			t.Errorf("parseJSONPath(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	bad := []struct{ in, why string }{
		{"contact", "no leading $"},
		{"$.", "an empty key"},
		{"$..a", "an empty key"},
		{"$.a[", "an unclosed ["},
		{"$.a[x]", `index "x" is not a number`},
		{"$.a[-1]", `index "-1" is not a number`},
		{"$.a[+1]", `index "+1" is not a number`},
		{"$.a[]", `index "" is not a number`},
		{"$a", `"a" after a step`},
		{"$.a]", `key "a]"`},
		{"$.a b", `key "a b"`},
	}
	for _, tt := range bad {
		_, err := parseJSONPath(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.why) || !strings.Contains(err.Error(), tt.in) {
			t.Errorf("parseJSONPath(%q) = %v, want an error naming the path and %q", tt.in, err, tt.why)
		}
	}
}

func TestDecodeDeviceValue(t *testing.T) {
	tests := []struct {
		payload, path string
		typ           hub.Type
		invert        bool
		want          string // the value's String, or "error: <part of the message>"
	}{
		{"21.5", "", hub.TypeNumber, false, "21.5 °C"},
		{" 21.5\n", "", hub.TypeNumber, false, "21.5 °C"},
		{`"21.5"`, "", hub.TypeNumber, false, "21.5 °C"},
		{"-4", "$", hub.TypeNumber, false, "-4 °C"},
		{`{"ENERGY":{"Power":41.5}}`, "$.ENERGY.Power", hub.TypeNumber, false, "41.5 °C"},
		{`{"V":[231,0]}`, "$.V[1]", hub.TypeNumber, false, "0 °C"},
		{"nan", "", hub.TypeNumber, false, "error: want a finite number, got NaN"},
		{"inf", "", hub.TypeNumber, false, "error: want a finite number"},
		{"1e999", "", hub.TypeNumber, false, "error: want a finite number"},
		{"warm", "", hub.TypeNumber, false, `error: want a number, got "warm"`},
		{"", "", hub.TypeNumber, false, `error: want a number, got ""`},
		{"true", "", hub.TypeNumber, false, "error: want a number, got true"},
		{`{"a":1}`, "", hub.TypeNumber, false, "error: want a number, got an object"},
		{`{"a":1}`, "$.b", hub.TypeNumber, false, "error: $.b: not in the payload"},
		{`{"a":[1]}`, "$.a[3]", hub.TypeNumber, false, "error: $.a[3]: not in the payload (a list of 1)"},
		{`{"a":[1]}`, "$.a.b", hub.TypeNumber, false, "error: $.a.b: not in the payload"},
		{`{"a":5}`, "$.a.b", hub.TypeNumber, false, "error: $.a.b: not in the payload ($.a holds 5)"},
		{"a=1", "$.a", hub.TypeNumber, false, `error: payload "a=1" is not JSON, so it has no $.a`},
		{"\xff", "", hub.TypeNumber, false, "error: payload is not UTF-8 text"},
		{strings.Repeat("1", maxDevicePayload+1), "", hub.TypeNumber, false, "error: over the 65536-byte limit"},

		{`{"contact":true}`, "$.contact", hub.TypeBool, false, "true"},
		{`{"contact":true}`, "$.contact", hub.TypeBool, true, "false"},
		{"ON", "", hub.TypeBool, false, "true"},
		{"off", "", hub.TypeBool, false, "false"},
		{"OFF", "", hub.TypeBool, true, "true"},
		{"1", "", hub.TypeBool, false, "true"},
		{"0", "", hub.TypeBool, false, "false"},
		{`"closed"`, "", hub.TypeBool, false, "true"},
		{"Open", "", hub.TypeBool, false, "false"},
		{"2", "", hub.TypeBool, false, "error: want true/false, on/off, 1/0 or closed/open, got 2"},
		{`{"contact":null}`, "$.contact", hub.TypeBool, false, "error: got null"},
		{"ajar", "", hub.TypeBool, false, `error: got "ajar"`},

		{"13.4.0(tasmota)", "", hub.TypeString, false, "13.4.0(tasmota)"},
		{`{"v":"x"}`, "$.v", hub.TypeString, false, "x"},
		{`{"v":12}`, "$.v", hub.TypeString, false, "12"},
		{`{"v":[1]}`, "$.v", hub.TypeString, false, "error: want text, got a list"},
		{strings.Repeat("x", 256), "", hub.TypeString, false, "error: text of 256 bytes is over the 255-byte limit"},
	}
	for _, tt := range tests {
		path, err := parseJSONPath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		v, err := decodeDeviceValue([]byte(tt.payload), path, tt.typ, "°C", tt.invert)
		name := tt.payload
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		if want, isErr := strings.CutPrefix(tt.want, "error: "); isErr {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("decode(%q, %s, %v) = %v, %v; want an error with %q", name, tt.path, tt.typ, v, err, want)
			}
			continue
		}
		if err != nil || v.String() != tt.want {
			t.Errorf("decode(%q, %s, %v) = %v, %v; want %s", name, tt.path, tt.typ, v, err, tt.want)
		}
	}
}
