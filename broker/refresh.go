package broker

import (
	"errors"
	"fmt"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Refresh makes a change to the user name take effect at once: the
// permissions of its connected clients and of its offline persistent
// sessions are read again from Users, so the next publish or delivery is
// checked against them. A user that no longer exists (or whose record no
// longer resolves) loses every session's permissions and its connected
// clients are disconnected with "not authorized". It returns how many
// sessions it changed.
func (b *Broker) Refresh(name string) (int, error) {
	// Bumped before the lookup: a login that read the user before this
	// change sees the bump and reads it again (see OnConnectAuthenticate).
	b.sess.gen.Add(1)
	u, ok, err := b.users.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("refresh mqtt user %q: %w", name, err)
	}
	var perms *Perms
	if ok {
		if perms, err = PermsFor(u); err != nil {
			err = fmt.Errorf("refresh mqtt user %q: %w: its sessions lose all access", name, err)
		}
	}
	n := 0
	b.sess.m.Range(func(k, v any) bool {
		cl, old := k.(*mqtt.Client), v.(*Perms)
		if old.user != name {
			return true
		}
		n++
		if perms != nil {
			b.sess.m.CompareAndSwap(cl, old, perms)
			return true
		}
		b.sess.m.CompareAndDelete(cl, old)
		if !cl.Closed() {
			b.log.Info("mqtt client disconnected: its user was removed", "user", name, "client", cl.ID, "remote", cl.Net.Remote)
			_ = b.srv.DisconnectClient(cl, packets.ErrNotAuthorized) // answers the code itself
		}
		return true
	})
	return n, err
}

// maxFilterLen is the longest topic filter MQTT can carry: a two-byte
// length prefix [MQTT-1.5.3].
const maxFilterLen = 65535

// ValidFilter returns why f is not a valid MQTT topic filter, nil if it is.
func ValidFilter(f string) error {
	switch {
	case f == "":
		return errors.New("empty topic filter")
	case len(f) > maxFilterLen:
		return fmt.Errorf("topic filter of %d bytes: at most %d", len(f), maxFilterLen)
	case strings.ContainsRune(f, 0):
		return errors.New("topic filter has a NUL character [MQTT-1.5.3-2]")
	case strings.HasPrefix(f, "$share/"):
		return fmt.Errorf("topic filter %q: a shared subscription is not an ACL; give the filter after the group", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic filter %q: '#' must be a whole level and the last one [MQTT-4.7.1-1]", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic filter %q: '+' must be a whole level [MQTT-4.7.1-2]", f)
		}
	}
	return nil
}

// CheckUserACL validates one of a user's own filters for its role: a
// valid filter, read or write or both, and no write that could reach the
// hub's commands for a device, since devices never send commands (an
// integration user does that).
func CheckUserACL(role string, a ACL) error {
	if err := ValidFilter(a.Filter); err != nil {
		return err
	}
	if !a.Read && !a.Write {
		return fmt.Errorf("topic filter %q: grants neither read nor write", a.Filter)
	}
	if (role == "" || role == RoleDevice) && a.Write && overlaps(a.Filter, commandFilter) {
		return fmt.Errorf("topic filter %q: a device may not write it, as it matches the hub's command topics %s; give the user the integration role to send commands", a.Filter, commandFilter)
	}
	return nil
}

// overlaps reports whether some topic matches both filters.
func overlaps(f, g string) bool {
	a, b := strings.Split(f, "/"), strings.Split(g, "/")
	wild := func(l string) bool { return l == "+" || l == "#" }
	if wild(a[0]) && strings.HasPrefix(b[0], "$") || wild(b[0]) && strings.HasPrefix(a[0], "$") {
		return false // a wildcard never matches a '$' level [MQTT-4.7.2-1]
	}
	for i := 0; ; i++ {
		switch {
		case i < len(a) && a[i] == "#", i < len(b) && b[i] == "#":
			return true
		case i == len(a) || i == len(b):
			return len(a) == len(b)
		case a[i] != "+" && b[i] != "+" && a[i] != b[i]:
			return false
		}
	}
}
