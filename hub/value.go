package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Type is the type of an attribute's value.
type Type uint8

// The attribute types.
const (
	TypeInvalid Type = iota
	TypeNumber       // a float64 with a unit
	TypeEnum         // one of a fixed set of strings
	TypeBool
	TypeString
	TypeTime
)

var typeNames = [...]string{"invalid", "number", "enum", "bool", "string", "time"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType is the inverse of Type.String.
func ParseType(s string) (Type, error) {
	for i, n := range typeNames {
		if i > 0 && n == s {
			return Type(i), nil
		}
	}
	return TypeInvalid, fmt.Errorf("unknown type %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	*t = v
	return err
}

// Value is an immutable typed attribute value. The zero Value is invalid
// and stands for "no value yet".
type Value struct {
	typ Type
	b   bool
	num float64
	ns  int64  // TypeTime: Unix nanoseconds
	s   string // enum or string value; a number's unit
}

// Number returns a number with its unit ("°C", "%", "" for none).
func Number(v float64, unit string) Value { return Value{typ: TypeNumber, num: v, s: unit} }

// Enum returns one choice of an enumeration.
func Enum(s string) Value { return Value{typ: TypeEnum, s: s} }

// Bool returns a boolean value.
func Bool(b bool) Value { return Value{typ: TypeBool, b: b} }

// String returns a free-form string value.
func String(s string) Value { return Value{typ: TypeString, s: s} }

// Time returns a point in time (kept to the nanosecond, in UTC).
func Time(t time.Time) Value { return Value{typ: TypeTime, ns: t.UnixNano()} }

// Type is the value's type; TypeInvalid for the zero Value.
func (v Value) Type() Type { return v.typ }

// Valid reports whether v holds a value.
func (v Value) Valid() bool { return v.typ != TypeInvalid }

// Float returns a number's value. Bools give 0 or 1 and times their Unix
// seconds, so that history can average them; other types report false.
func (v Value) Float() (float64, bool) {
	switch v.typ {
	case TypeNumber:
		return v.num, true
	case TypeBool:
		if v.b {
			return 1, true
		}
		return 0, true
	case TypeTime:
		return float64(v.ns) / 1e9, true
	}
	return 0, false
}

// Unit is a number's unit.
func (v Value) Unit() string {
	if v.typ == TypeNumber {
		return v.s
	}
	return ""
}

// BoolValue returns a bool's value.
func (v Value) BoolValue() bool { return v.typ == TypeBool && v.b }

// Text returns an enum's or a string's value.
func (v Value) Text() string {
	if v.typ == TypeEnum || v.typ == TypeString {
		return v.s
	}
	return ""
}

// TimeValue returns a time's value.
func (v Value) TimeValue() time.Time {
	if v.typ != TypeTime {
		return time.Time{}
	}
	return time.Unix(0, v.ns).UTC()
}

// finite is false for a NaN or infinite number.
func (v Value) finite() bool {
	return v.typ != TypeNumber || !math.IsNaN(v.num) && !math.IsInf(v.num, 0)
}

// Equal reports whether two values are the same, unit included.
func (v Value) Equal(w Value) bool { return v == w }

// String formats the value for people: "21.5 °C", "on", "heat".
func (v Value) String() string {
	switch v.typ {
	case TypeNumber:
		n := strconv.FormatFloat(v.num, 'f', -1, 64)
		if v.s == "" {
			return n
		}
		if v.s == "%" {
			return n + "%"
		}
		return n + " " + v.s
	case TypeBool:
		if v.b {
			return "true"
		}
		return "false"
	case TypeEnum, TypeString:
		return v.s
	case TypeTime:
		return v.TimeValue().Format(time.RFC3339Nano)
	}
	return "-"
}

// Native returns the value as a plain Go value for JSON documents whose
// schema is known to the reader (MQTT state, rule expressions).
func (v Value) Native() any {
	switch v.typ {
	case TypeNumber:
		return v.num
	case TypeBool:
		return v.b
	case TypeEnum, TypeString:
		return v.s
	case TypeTime:
		return v.TimeValue().Format(time.RFC3339Nano)
	}
	return nil
}

type valueJSON struct {
	Type  Type            `json:"type"`
	Value json.RawMessage `json:"value"`
	Unit  string          `json:"unit,omitempty"`
}

// MarshalJSON writes {"type":"number","value":21.5,"unit":"°C"}.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.typ == TypeInvalid {
		return []byte("null"), nil
	}
	raw, err := json.Marshal(v.Native())
	if err != nil {
		return nil, err
	}
	return json.Marshal(valueJSON{Type: v.typ, Value: raw, Unit: v.Unit()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *Value) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = Value{}
		return nil
	}
	var j valueJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	got, err := decodeRaw(j.Type, j.Value)
	if err != nil {
		return err
	}
	if j.Type == TypeNumber {
		got.s = j.Unit
	}
	*v = got
	return nil
}

// decodeRaw reads a bare JSON value as type t, strictly: a number must be a
// JSON number, a bool a JSON bool, and so on.
func decodeRaw(t Type, raw json.RawMessage) (Value, error) {
	// json.Unmarshal takes null as "leave it be", which would read as 0,
	// false or "".
	null := string(bytes.TrimSpace(raw)) == "null"
	switch t {
	case TypeNumber:
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil || null {
			return Value{}, fmt.Errorf("want a number, got %s", describeJSON(raw))
		}
		return Number(f, ""), nil
	case TypeBool:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil || null {
			return Value{}, fmt.Errorf("want true or false, got %s", describeJSON(raw))
		}
		return Bool(b), nil
	case TypeEnum, TypeString:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || null {
			return Value{}, fmt.Errorf("want a string, got %s", describeJSON(raw))
		}
		return Value{typ: t, s: s}, nil
	case TypeTime:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Value{}, fmt.Errorf("want an RFC 3339 time, got %s", describeJSON(raw))
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Value{}, fmt.Errorf("want an RFC 3339 time, got %q", s)
		}
		return Time(tm), nil
	}
	return Value{}, fmt.Errorf("unknown type %v", t)
}

// parseText reads a value of type t from text typed by a person.
func parseText(t Type, s string) (Value, error) {
	switch t {
	case TypeNumber:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return Value{}, fmt.Errorf("want a number, got %q", s)
		}
		return Number(f, ""), nil
	case TypeBool:
		switch s {
		case "true", "on", "yes", "1":
			return Bool(true), nil
		case "false", "off", "no", "0":
			return Bool(false), nil
		}
		return Value{}, fmt.Errorf("want true or false, got %q", s)
	case TypeEnum, TypeString:
		return Value{typ: t, s: s}, nil
	case TypeTime:
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Value{}, fmt.Errorf("want an RFC 3339 time, got %q", s)
		}
		return Time(tm), nil
	}
	return Value{}, fmt.Errorf("unknown type %v", t)
}

func describeJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string " + string(raw)
	case 't', 'f':
		return "a bool " + string(raw)
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a number " + string(raw)
}
