package hub_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/hub"
)

var someTime = time.Date(2025, 11, 24, 18, 30, 15, 123456789, time.UTC)

func TestType_String(t *testing.T) {
	for _, typ := range []hub.Type{hub.TypeNumber, hub.TypeEnum, hub.TypeBool, hub.TypeString, hub.TypeTime} {
		got, err := hub.ParseType(typ.String())
		if err != nil {
			t.Fatalf("ParseType(%q)=%v", typ.String(), err)
		}
		if got != typ {
			t.Fatalf("ParseType(%q)=%v, want %v", typ.String(), got, typ)
		}
	}
	for _, s := range []string{"", "invalid", "Number", "float"} {
		if _, err := hub.ParseType(s); err == nil {
			t.Fatalf("ParseType(%q)=nil error, want one", s)
		}
	}
	if got, want := hub.Type(42).String(), "type(42)"; got != want {
		t.Fatalf("Type(42).String()=%q, want %q", got, want)
	}
}

func TestValue_Accessors(t *testing.T) {
	t.Run("Zero", func(t *testing.T) {
		var v hub.Value
		if v.Valid() {
			t.Fatalf("Value{}.Valid()=true, want false")
		}
		if got, want := v.Type(), hub.TypeInvalid; got != want {
			t.Fatalf("Value{}.Type()=%v, want %v", got, want)
		}
	})
	t.Run("Number", func(t *testing.T) {
		v := hub.Number(21.5, "°C")
		f, ok := v.Float()
		if got, want := f, 21.5; !ok || got != want {
			t.Fatalf("Float()=%v,%v, want %v,true", got, ok, want)
		}
		if got, want := v.Unit(), "°C"; got != want {
			t.Fatalf("Unit()=%q, want %q", got, want)
		}
		if got, want := v.String(), "21.5 °C"; got != want {
			t.Fatalf("String()=%q, want %q", got, want)
		}
		if got, want := hub.Number(40, "%").String(), "40%"; got != want {
			t.Fatalf("String()=%q, want %q", got, want)
		}
		if v.Equal(hub.Number(21.5, "°F")) {
			t.Fatalf("Equal across units=true, want false")
		}
	})
	t.Run("Bool", func(t *testing.T) {
		if got, want := hub.Bool(true).BoolValue(), true; got != want {
			t.Fatalf("BoolValue()=%v, want %v", got, want)
		}
		if f, _ := hub.Bool(true).Float(); f != 1 {
			t.Fatalf("Bool(true).Float()=%v, want 1", f)
		}
	})
	t.Run("Text", func(t *testing.T) {
		if got, want := hub.Enum("heat").Text(), "heat"; got != want {
			t.Fatalf("Text()=%q, want %q", got, want)
		}
		if hub.Enum("heat").Equal(hub.String("heat")) {
			t.Fatalf("Enum(heat).Equal(String(heat))=true, want false")
		}
		if _, ok := hub.String("x").Float(); ok {
			t.Fatalf("String.Float() ok=true, want false")
		}
	})
	t.Run("Time", func(t *testing.T) {
		local := someTime.In(time.FixedZone("X", 3600))
		v := hub.Time(local)
		if got, want := v.TimeValue(), someTime; !got.Equal(want) || got.Location() != time.UTC {
			t.Fatalf("TimeValue()=%v, want %v in UTC", got, want)
		}
		if !v.Equal(hub.Time(someTime)) {
			t.Fatalf("Time values of the same instant differ")
		}
	})
}

func TestValue_JSON(t *testing.T) {
	t.Run("RoundTrip", func(t *testing.T) {
		for _, v := range []hub.Value{
			hub.Number(21.5, "°C"),
			hub.Number(-3.25, ""),
			hub.Number(0.1, "%"),
			hub.Number(1e-9, "A"),
			hub.Enum("heat"),
			hub.Bool(true),
			hub.Bool(false),
			hub.String("hello \"world\""),
			hub.String(""),
			hub.Time(someTime),
			{},
		} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("Marshal(%v)=%v", v, err)
			}
			var got hub.Value
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("Unmarshal(%s)=%v", b, err)
			}
			if !got.Equal(v) {
				t.Fatalf("round trip of %v via %s=%v (%v), want equal", v, b, got, got.Type())
			}
		}
	})

	t.Run("Format", func(t *testing.T) {
		b, err := json.Marshal(hub.Number(21.5, "°C"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), `{"type":"number","value":21.5,"unit":"°C"}`; got != want {
			t.Fatalf("Marshal()=%s, want %s", got, want)
		}
		b, _ = json.Marshal(hub.Enum("heat"))
		if got, want := string(b), `{"type":"enum","value":"heat"}`; got != want {
			t.Fatalf("Marshal()=%s, want %s", got, want)
		}
	})

	t.Run("Strict", func(t *testing.T) {
		for _, tt := range []struct{ in, wantErr string }{
			{`{"type":"number","value":"21.5"}`, `got a string "21.5"`},
			{`{"type":"number","value":true}`, `got a bool true`},
			{`{"type":"number","value":null}`, `got null`},
			{`{"type":"number"}`, `got nothing`},
			{`{"type":"bool","value":1}`, `got a number 1`},
			{`{"type":"bool","value":"true"}`, `got a string "true"`},
			{`{"type":"bool","value":null}`, `got null`},
			{`{"type":"enum","value":3}`, `got a number 3`},
			{`{"type":"string","value":{}}`, `got an object`},
			{`{"type":"string","value":null}`, `got null`},
			{`{"type":"time","value":[]}`, `got an array`},
			{`{"type":"time","value":"yesterday"}`, `got "yesterday"`},
			{`{"type":"float","value":1}`, `unknown type "float"`},
			{`{"value":1}`, `unknown type`},
		} {
			var v hub.Value
			err := json.Unmarshal([]byte(tt.in), &v)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Unmarshal(%s)=%v (value %v), want error containing %q", tt.in, err, v, tt.wantErr)
			}
		}
	})

	t.Run("NonFinite", func(t *testing.T) {
		if _, err := json.Marshal(hub.Number(math.NaN(), "")); err == nil {
			t.Fatalf("Marshal(NaN)=nil error, want one")
		}
	})
}

func TestAttrSpec_ParseText(t *testing.T) {
	temp := hub.AttrSpec{Name: "target", Type: hub.TypeNumber, Unit: "°C", Ranged: true, Min: 5, Max: 30}
	mode := hub.AttrSpec{Name: "mode", Type: hub.TypeEnum, Options: []string{"off", "heat", "cool"}}
	flag := hub.AttrSpec{Name: "flag", Type: hub.TypeBool}
	label := hub.AttrSpec{Name: "label", Type: hub.TypeString, MaxLen: 4}
	when := hub.AttrSpec{Name: "when", Type: hub.TypeTime}

	t.Run("Valid", func(t *testing.T) {
		for _, tt := range []struct {
			spec hub.AttrSpec
			in   string
			want hub.Value
		}{
			{temp, "21.5", hub.Number(21.5, "°C")},
			{temp, "5", hub.Number(5, "°C")},
			{temp, "30", hub.Number(30, "°C")},
			{mode, "heat", hub.Enum("heat")},
			{flag, "on", hub.Bool(true)},
			{flag, "yes", hub.Bool(true)},
			{flag, "false", hub.Bool(false)},
			{flag, "0", hub.Bool(false)},
			{label, "abcd", hub.String("abcd")},
			{when, someTime.Format(time.RFC3339Nano), hub.Time(someTime)},
		} {
			got, err := tt.spec.ParseText(tt.in)
			if err != nil {
				t.Fatalf("%s.ParseText(%q)=%v", tt.spec.Name, tt.in, err)
			}
			if !got.Equal(tt.want) {
				t.Fatalf("%s.ParseText(%q)=%v, want %v", tt.spec.Name, tt.in, got, tt.want)
			}
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct {
			spec    hub.AttrSpec
			in      string
			wantErr string
		}{
			{temp, "warm", `want a number, got "warm"`},
			{temp, "NaN", `want a number`},
			{temp, "Inf", `want a number`},
			{temp, "", `want a number`},
			{temp, "4.9", `below the minimum 5`},
			{temp, "30.5", `above the maximum 30`},
			{mode, "auto", `"auto" is not one of`},
			{flag, "maybe", `want true or false, got "maybe"`},
			{label, "abcde", `longer than 4`},
			{when, "2025-11-24", `want an RFC 3339 time`},
		} {
			_, err := tt.spec.ParseText(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("%s.ParseText(%q)=%v, want error containing %q", tt.spec.Name, tt.in, err, tt.wantErr)
			}
		}
	})
}

func TestAttrSpec_DecodeJSON(t *testing.T) {
	temp := hub.AttrSpec{Name: "target", Type: hub.TypeNumber, Unit: "°C", Ranged: true, Min: 5, Max: 30}
	t.Run("Valid", func(t *testing.T) {
		got, err := temp.DecodeJSON(json.RawMessage(`21.5`))
		if err != nil {
			t.Fatal(err)
		}
		if want := hub.Number(21.5, "°C"); !got.Equal(want) {
			t.Fatalf("DecodeJSON(21.5)=%v, want %v", got, want)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct{ in, wantErr string }{
			{`"21.5"`, `want a number, got a string "21.5"`},
			{`null`, `want a number, got null`},
			{`31`, `above the maximum 30`},
			{`[21]`, `got an array`},
		} {
			_, err := temp.DecodeJSON(json.RawMessage(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("DecodeJSON(%s)=%v, want error containing %q", tt.in, err, tt.wantErr)
			}
		}
	})
}
