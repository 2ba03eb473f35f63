package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
)

// AttrSpec describes one attribute of an entity, or one argument of an action.
type AttrSpec struct {
	Name     string   `json:"name"`
	Type     Type     `json:"type"`
	Unit     string   `json:"unit,omitempty"`
	Ranged   bool     `json:"ranged,omitempty"` // Min and Max apply
	Min      float64  `json:"min,omitempty"`
	Max      float64  `json:"max,omitempty"`
	Step     float64  `json:"step,omitempty"`    // a hint for people and dashboards
	Options  []string `json:"options,omitempty"` // TypeEnum: the allowed values
	MaxLen   int      `json:"max_len,omitempty"` // TypeString: 0 for no limit
	Writable bool     `json:"writable,omitempty"`
	Required bool     `json:"required,omitempty"` // for action arguments
}

// ActionSpec describes a command an entity accepts.
type ActionSpec struct {
	Name string     `json:"name"`
	Args []AttrSpec `json:"args,omitempty"`
	// Critical actions (a lock's) have their audit row committed before
	// they run and again before their result is returned.
	Critical bool `json:"critical,omitempty"`
}

// ActionSet is the generic action that writes an entity's writable
// attributes; every entity with one has it.
const ActionSet = "set"

// check reports whether v fits the spec; the error does not name the field.
func (s *AttrSpec) check(v Value) error {
	if v.Type() != s.Type {
		return fmt.Errorf("want %v, got %v", s.Type, v.Type())
	}
	switch s.Type {
	case TypeNumber:
		f, _ := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%v is not a finite number", f)
		}
		if s.Ranged && f < s.Min {
			return fmt.Errorf("%s is below the minimum %s", fmtNum(f), fmtNum(s.Min))
		}
		if s.Ranged && f > s.Max {
			return fmt.Errorf("%s is above the maximum %s", fmtNum(f), fmtNum(s.Max))
		}
	case TypeEnum:
		if !slices.Contains(s.Options, v.Text()) {
			return fmt.Errorf("%q is not one of %q", v.Text(), s.Options)
		}
	case TypeString:
		if s.MaxLen > 0 && len(v.Text()) > s.MaxLen {
			return fmt.Errorf("longer than %d bytes", s.MaxLen)
		}
	}
	return nil
}

// withUnit gives a number the spec's unit, so callers may leave it out.
func (s *AttrSpec) withUnit(v Value) Value {
	if v.Type() == TypeNumber && v.Unit() == "" && s.Unit != "" {
		f, _ := v.Float()
		return Number(f, s.Unit)
	}
	return v
}

// ParseText reads a value for this spec from text a person typed and checks it.
func (s *AttrSpec) ParseText(text string) (Value, error) {
	v, err := parseText(s.Type, text)
	if err != nil {
		return Value{}, err
	}
	v = s.withUnit(v)
	return v, s.check(v)
}

// DecodeJSON reads a bare JSON value for this spec and checks it.
func (s *AttrSpec) DecodeJSON(raw json.RawMessage) (Value, error) {
	v, err := decodeRaw(s.Type, raw)
	if err != nil {
		return Value{}, err
	}
	v = s.withUnit(v)
	return v, s.check(v)
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// The kinds of command failure, for errors.Is.
var (
	ErrUnknownEntity = errors.New("unknown entity")
	ErrUnknownAction = errors.New("unknown action")
	ErrInvalid       = errors.New("invalid command")
	ErrForbidden     = errors.New("forbidden")
	ErrUnavailable   = errors.New("entity unavailable")
)

// ValidationError says which field of a command for which entity is wrong.
// errors.Is(err, ErrInvalid) holds for it.
type ValidationError struct {
	Entity ID
	Field  string // "" when the command as a whole is wrong
	Reason string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Entity, e.Reason)
	}
	return fmt.Sprintf("%s: field %q: %s", e.Entity, e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// schema is the frozen form of an entity's attributes and actions.
type schema struct {
	attrs   map[string]*AttrSpec
	actions map[string]*ActionSpec
}

func newSchema(id ID, attrs []AttrSpec, actions []ActionSpec) (*schema, error) {
	sc := &schema{attrs: map[string]*AttrSpec{}, actions: map[string]*ActionSpec{}}
	var set ActionSpec
	for i := range attrs {
		a := &attrs[i]
		if err := checkName(a.Name); err != nil {
			return nil, fmt.Errorf("%s: attribute %q %w", id, a.Name, err)
		}
		if a.Type == TypeInvalid || a.Type > TypeTime {
			return nil, fmt.Errorf("%s: attribute %q: no type", id, a.Name)
		}
		if a.Type == TypeEnum && len(a.Options) == 0 {
			return nil, fmt.Errorf("%s: attribute %q: enum without options", id, a.Name)
		}
		if a.Ranged && a.Min > a.Max {
			return nil, fmt.Errorf("%s: attribute %q: min %v above max %v", id, a.Name, a.Min, a.Max)
		}
		if _, dup := sc.attrs[a.Name]; dup {
			return nil, fmt.Errorf("%s: attribute %q declared twice", id, a.Name)
		}
		sc.attrs[a.Name] = a
		if a.Writable {
			arg := *a
			arg.Required = false
			set.Args = append(set.Args, arg)
		}
	}
	for i := range actions {
		ac := &actions[i]
		if err := checkName(ac.Name); err != nil {
			return nil, fmt.Errorf("%s: action %q %w", id, ac.Name, err)
		}
		if _, dup := sc.actions[ac.Name]; dup || ac.Name == ActionSet && len(set.Args) > 0 {
			return nil, fmt.Errorf("%s: action %q declared twice", id, ac.Name)
		}
		sc.actions[ac.Name] = ac
	}
	if len(set.Args) > 0 {
		set.Name = ActionSet
		sc.actions[ActionSet] = &set
	}
	return sc, nil
}

// actionList returns the actions sorted by name, "set" included.
func (sc *schema) actionList() []ActionSpec {
	out := make([]ActionSpec, 0, len(sc.actions))
	for _, a := range sc.actions {
		out = append(out, *a)
		out[len(out)-1].Args = cloneSpecs(a.Args)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// cloneSpecs copies specs so that neither side's edits reach the other.
func cloneSpecs(specs []AttrSpec) []AttrSpec {
	out := slices.Clone(specs)
	for i := range out {
		out[i].Options = slices.Clone(out[i].Options)
	}
	return out
}

func cloneActions(acs []ActionSpec) []ActionSpec {
	out := slices.Clone(acs)
	for i := range out {
		out[i].Args = cloneSpecs(out[i].Args)
	}
	return out
}

// checkCommand validates typed arguments and fills in units.
func (sc *schema) checkCommand(id ID, action string, args map[string]Value) (*ActionSpec, map[string]Value, error) {
	ac, ok := sc.actions[action]
	if !ok {
		return nil, nil, fmt.Errorf("%s: action %q: %w (has %s)", id, action, ErrUnknownAction, sc.actionNames())
	}
	out := make(map[string]Value, len(args))
	for _, name := range slices.Sorted(maps.Keys(args)) {
		v := args[name]
		spec := findArg(ac, name)
		if spec == nil {
			return ac, nil, &ValidationError{Entity: id, Field: name, Reason: fmt.Sprintf("action %q takes no such argument", action)}
		}
		v = spec.withUnit(v)
		if err := spec.check(v); err != nil {
			return ac, nil, &ValidationError{Entity: id, Field: name, Reason: err.Error()}
		}
		out[name] = v
	}
	for i := range ac.Args {
		if ac.Args[i].Required {
			if _, ok := args[ac.Args[i].Name]; !ok {
				return ac, nil, &ValidationError{Entity: id, Field: ac.Args[i].Name, Reason: "is required"}
			}
		}
	}
	if action == ActionSet && len(args) == 0 {
		return ac, nil, &ValidationError{Entity: id, Reason: "set needs at least one attribute"}
	}
	return ac, out, nil
}

// decodeArgs reads JSON arguments for an action.
func (sc *schema) decodeArgs(id ID, action string, raw map[string]json.RawMessage) (map[string]Value, error) {
	ac, ok := sc.actions[action]
	if !ok {
		return nil, fmt.Errorf("%s: action %q: %w (has %s)", id, action, ErrUnknownAction, sc.actionNames())
	}
	out := make(map[string]Value, len(raw))
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		r := raw[name]
		spec := findArg(ac, name)
		if spec == nil {
			return nil, &ValidationError{Entity: id, Field: name, Reason: fmt.Sprintf("action %q takes no such argument", action)}
		}
		v, err := spec.DecodeJSON(r)
		if err != nil {
			return nil, &ValidationError{Entity: id, Field: name, Reason: err.Error()}
		}
		out[name] = v
	}
	return out, nil
}

func (sc *schema) actionNames() string {
	if len(sc.actions) == 0 {
		return "no actions"
	}
	names := make([]string, 0, len(sc.actions))
	for n := range sc.actions {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprintf("%q", names)
}

func findArg(ac *ActionSpec, name string) *AttrSpec {
	for i := range ac.Args {
		if ac.Args[i].Name == name {
			return &ac.Args[i]
		}
	}
	return nil
}
