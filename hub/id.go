package hub

import (
	"fmt"
	"strings"
)

// ID names an entity: "<kind>.<name>", both made of [a-z0-9_].
type ID string

// ParseID checks s and returns it as an ID.
func ParseID(s string) (ID, error) {
	kind, name, ok := strings.Cut(s, ".")
	if !ok {
		return "", fmt.Errorf("entity id %q: want <kind>.<name>", s)
	}
	if err := checkName(kind); err != nil {
		return "", fmt.Errorf("entity id %q: kind %w", s, err)
	}
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("entity id %q: name %w", s, err)
	}
	return ID(s), nil
}

// Kind is the part before the dot.
func (id ID) Kind() string {
	k, _, _ := strings.Cut(string(id), ".")
	return k
}

// Name is the part after the dot.
func (id ID) Name() string {
	_, n, _ := strings.Cut(string(id), ".")
	return n
}

// CheckName checks a name: an ID's kind or name, an attribute's or an
// action's. It is 1 to 64 of a-z, 0-9 and _.
func CheckName(s string) error { return checkName(s) }

func checkName(s string) error {
	if s == "" {
		return fmt.Errorf("is empty")
	}
	if len(s) > 64 {
		return fmt.Errorf("is longer than 64 characters")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("has %q: only a-z, 0-9 and _ are allowed", r)
		}
	}
	return nil
}

// Principal says who asked for a command: "owner", "rule:<name>",
// "mqtt:<user>" or "assistant:<recipient>".
type Principal string

// Owner is the home's owner, through the CLI, the local API or the dashboard.
const Owner Principal = "owner"

// Kind is the part before the colon ("owner" for the owner).
func (p Principal) Kind() string {
	k, _, _ := strings.Cut(string(p), ":")
	return k
}

// ParsePrincipal checks s.
func ParsePrincipal(s string) (Principal, error) {
	if s == string(Owner) {
		return Owner, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return "", fmt.Errorf("principal %q: want owner or <kind>:<name>", s)
	case kind != "rule" && kind != "mqtt" && kind != "assistant":
		return "", fmt.Errorf("principal %q: unknown kind %q", s, kind)
	case name == "":
		return "", fmt.Errorf("principal %q: empty name", s)
	}
	return Principal(s), nil
}
