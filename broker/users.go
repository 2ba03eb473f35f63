package broker

import (
	"fmt"
	"strings"
	"sync"
)

// The roles. A user's role gives its default topic filters; the user's own
// filters are added to them.
const (
	RoleDevice      = "device"      // the default: read states, write its own subtree
	RoleIntegration = "integration" // Home Assistant, Node-RED: read all, send commands
	RoleAdmin       = "admin"       // everything
)

// ACL grants read and/or write on the topics a filter matches.
type ACL struct {
	Filter string
	Read   bool
	Write  bool
}

// User is an MQTT account.
type User struct {
	Name    string
	Hash    []byte // bcrypt hash of the password
	Role    string // "" is RoleDevice
	Filters []ACL  // in addition to the role's defaults
}

// Users finds accounts by name. ok is false when there is no such user.
type Users interface {
	Lookup(name string) (u User, ok bool, err error)
}

// MemUsers is an in-memory Users, for tests and until the store keeps them.
type MemUsers struct {
	mu sync.RWMutex
	m  map[string]User
}

// Put adds or replaces a user.
func (m *MemUsers) Put(u User) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]User{}
	}
	m.m[u.Name] = u
}

// Delete removes a user.
func (m *MemUsers) Delete(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, name)
}

// Lookup implements Users.
func (m *MemUsers) Lookup(name string) (User, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	u, ok := m.m[name]
	return u, ok, nil
}

// sysFilter is mochi's $SYS topics. A '#' or '+' ACL never matches a '$'
// topic [MQTT-4.7.2-1], so the roles that may read them name it.
const sysFilter = "$SYS/#"

// RoleFilters returns a role's default filters for the user name.
func RoleFilters(role, user string) ([]ACL, error) {
	switch role {
	case "", RoleDevice:
		return []ACL{
			{Filter: "hearth/+/+/state", Read: true},
			{Filter: "devices/" + user + "/#", Read: true, Write: true},
		}, nil
	case RoleIntegration:
		return []ACL{
			{Filter: "hearth/#", Read: true},
			{Filter: "homeassistant/#", Read: true},
			{Filter: "hearth/+/+/set", Write: true},
			// Home Assistant's birth message, which asks for discovery again.
			{Filter: "homeassistant/status", Write: true},
			{Filter: sysFilter, Read: true},
		}, nil
	case RoleAdmin:
		return []ACL{{Filter: "#", Read: true, Write: true}, {Filter: sysFilter, Read: true}}, nil
	}
	return nil, fmt.Errorf("unknown role %q", role)
}

// Perms is a user's effective access.
type Perms struct {
	user    string
	device  bool
	filters []ACL
}

// PermsFor resolves a user's role defaults and own filters.
func PermsFor(u User) (*Perms, error) {
	if strings.ContainsAny(u.Name, "+#/") || u.Name == "" {
		return nil, fmt.Errorf("user name %q: empty or has a topic wildcard or /", u.Name)
	}
	def, err := RoleFilters(u.Role, u.Name)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", u.Name, err)
	}
	return &Perms{user: u.Name, device: u.Role == "" || u.Role == RoleDevice, filters: append(def, u.Filters...)}, nil
}

// commandFilter is the hub's command topics, never writable by a device.
const commandFilter = "hearth/+/+/set"

// CanRead reports whether a subscription to filter is allowed: every topic
// it can match must be readable.
func (p *Perms) CanRead(filter string) bool {
	filter = stripShare(filter)
	for _, a := range p.filters {
		if a.Read && covers(a.Filter, filter) {
			return true
		}
	}
	return false
}

// CanWrite reports whether a publish to topic is allowed.
func (p *Perms) CanWrite(topic string) bool {
	if p.device && covers(commandFilter, topic) {
		return false
	}
	for _, a := range p.filters {
		if a.Write && covers(a.Filter, topic) {
			return true
		}
	}
	return false
}

// stripShare turns "$share/group/filter" into "filter".
func stripShare(f string) string {
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		if _, filter, ok := strings.Cut(rest, "/"); ok {
			return filter
		}
	}
	return f
}

// covers reports whether every topic matched by f (a filter or a plain
// topic) is matched by acl. It runs on every publish and delivery, so it
// walks both level by level instead of splitting them.
func covers(acl, f string) bool {
	if strings.HasPrefix(f, "$") {
		if first, _, _ := strings.Cut(acl, "/"); first == "+" || first == "#" {
			return false // [MQTT-4.7.2-1]
		}
	}
	fDone := false // f has no levels left
	for {
		level, aRest, aMore := strings.Cut(acl, "/")
		if level == "#" {
			return true
		}
		if fDone {
			return false
		}
		fLevel, fRest, fMore := strings.Cut(f, "/")
		switch {
		case level == "+":
			if fLevel == "#" {
				return false
			}
		case fLevel == "+" || fLevel == "#" || level != fLevel:
			return false
		}
		if !aMore {
			return !fMore
		}
		acl, f, fDone = aRest, fRest, !fMore
	}
}
