package hub

import (
	"fmt"
	"slices"
)

// The kinds of virtual entity (helpers) that config can declare. Each has
// one writable attribute, "value".
const (
	VirtualNumber  = "number"  // a number in a range, with a unit
	VirtualBoolean = "boolean" // true or false
	VirtualSelect  = "select"  // one of a list of options
	VirtualText    = "text"    // a short string
)

// VirtualKinds lists the kinds a virtual entity may have.
var VirtualKinds = []string{VirtualBoolean, VirtualNumber, VirtualSelect, VirtualText}

// VirtualSpec declares a virtual entity.
type VirtualSpec struct {
	ID      ID
	Name    string
	Min     float64 // number
	Max     float64 // number
	Step    float64 // number: a hint for dashboards
	Unit    string  // number
	Options []string
	Initial Value // the value before anyone sets it; zero for the kind's default
}

// VirtualValueAttr is the attribute every virtual entity has.
const VirtualValueAttr = "value"

// Entity builds the hub entity for the spec.
func (s VirtualSpec) Entity() (Entity, error) {
	attr := AttrSpec{Name: VirtualValueAttr, Writable: true}
	switch s.ID.Kind() {
	case VirtualNumber:
		if s.Min > s.Max {
			return Entity{}, fmt.Errorf("%s: min %v is above max %v", s.ID, s.Min, s.Max)
		}
		attr.Type, attr.Unit, attr.Ranged, attr.Min, attr.Max, attr.Step = TypeNumber, s.Unit, true, s.Min, s.Max, s.Step
	case VirtualBoolean:
		attr.Type = TypeBool
	case VirtualSelect:
		if len(s.Options) == 0 {
			return Entity{}, fmt.Errorf("%s: a select needs options", s.ID)
		}
		attr.Type, attr.Options = TypeEnum, slices.Clone(s.Options)
	case VirtualText:
		attr.Type, attr.MaxLen = TypeString, 255
	default:
		return Entity{}, fmt.Errorf("%s: kind %q cannot be virtual (want one of %q)", s.ID, s.ID.Kind(), VirtualKinds)
	}
	return Entity{ID: s.ID, Name: s.Name, Attrs: []AttrSpec{attr}, Virtual: true}, nil
}

// Default is the value a virtual entity starts with: Initial if set, else
// the minimum, false, the first option or "".
func (s VirtualSpec) Default() Value {
	if s.Initial.Valid() {
		return s.Initial
	}
	switch s.ID.Kind() {
	case VirtualNumber:
		return Number(s.Min, s.Unit)
	case VirtualBoolean:
		return Bool(false)
	case VirtualSelect:
		if len(s.Options) > 0 {
			return Enum(s.Options[0])
		}
	}
	return String("")
}

// RegisterVirtual registers a virtual entity. restored, if valid for the
// spec (a value kept from before a restart), wins over the default.
func (h *Hub) RegisterVirtual(s VirtualSpec, restored Value) error {
	e, err := s.Entity()
	if err != nil {
		return err
	}
	v := s.Default()
	if restored.Valid() {
		spec := e.Attrs[0]
		r := spec.withUnit(restored)
		if spec.Type == TypeNumber && r.Unit() != spec.Unit {
			f, _ := r.Float()
			r = Number(f, spec.Unit)
		}
		if spec.check(r) == nil {
			v = r
		}
	}
	if err := (&e.Attrs[0]).check(e.Attrs[0].withUnit(v)); err != nil {
		return fmt.Errorf("%s: initial value: %w", s.ID, err)
	}
	return h.Register(e, map[string]Value{VirtualValueAttr: v})
}
