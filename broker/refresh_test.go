package broker

import (
	"strings"
	"testing"
	"time"
)

func TestBroker_Refresh(t *testing.T) {
	users := testUsers(t)
	users.Put(User{Name: "root", Hash: hash(t, "pw-root"), Role: RoleAdmin})
	b := startBroker(t, Options{Users: users})
	dev := mustDial(t, b, "esp1", "pw-esp1")
	root := mustDial(t, b, "root", "pw-root")
	if err := root.sub(t, "zigbee2mqtt/#"); err != nil {
		t.Fatal(err)
	}
	const topic = "zigbee2mqtt/back_door"
	if err := dev.pub(t, topic, "before"); err == nil {
		t.Fatal("device wrote zigbee2mqtt/# before its ACL allowed it")
	}

	u, _, _ := users.Lookup("esp1")
	u.Filters = []ACL{{Filter: "zigbee2mqtt/#", Write: true}}
	users.Put(u)
	if n, err := b.Refresh("esp1"); err != nil || n != 1 {
		t.Fatalf("Refresh(esp1) = %d, %v; want 1 session, nil", n, err)
	}
	if err := dev.pub(t, topic, "granted"); err != nil {
		t.Fatalf("publish after the ACL grant, same connection: %v", err)
	}
	if m := root.await(t, topic); string(m.Payload) != "granted" {
		t.Fatalf("admin got %q on %s, want granted", m.Payload, topic)
	}

	u.Filters = nil
	users.Put(u)
	if _, err := b.Refresh("esp1"); err != nil {
		t.Fatal(err)
	}
	if err := dev.pub(t, topic, "revoked"); err == nil {
		t.Fatal("device still wrote zigbee2mqtt/# after the filter was removed")
	}

	// An unrelated user's session is left alone.
	if n, err := b.Refresh("ha"); err != nil || n != 0 {
		t.Fatalf("Refresh(ha) with no session = %d, %v; want 0, nil", n, err)
	}

	users.Delete("esp1")
	if n, err := b.Refresh("esp1"); err != nil || n != 1 {
		t.Fatalf("Refresh(removed esp1) = %d, %v; want 1 session, nil", n, err)
	}
	select {
	case <-dev.Done():
	case <-time.After(waitFor):
		t.Fatal("the removed user's connection is still open")
	}
	if _, err := dial(t, b, "esp1", "pw-esp1"); err == nil {
		t.Fatal("removed user logged in")
	}
	// The admin's connection is untouched.
	if err := root.pub(t, topic, "still here"); err != nil {
		t.Fatalf("admin publish after another user's removal: %v", err)
	}
}

func TestValidFilter(t *testing.T) {
	for _, c := range []struct {
		f    string
		want string // "" for valid, else a fragment of the error
	}{
		{"zigbee2mqtt/#", ""},
		{"#", ""},
		{"a/+/c", ""},
		{"+", ""},
		{"$SYS/#", ""},
		{"a//b", ""},
		{"", "empty"},
		{"a/#/b", "last"},
		{"a#", "whole level"},
		{"a/b+", "'+' must be a whole level"},
		{"a/+b/c", "'+' must be a whole level"},
		{"a/\x00", "NUL"},
		{strings.Repeat("a", 65536), "at most 65535"},
		{"$share/g/a", "shared"},
	} {
		err := ValidFilter(c.f)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("ValidFilter(%.20q) = %v, want error containing %q", c.f, err, c.want)
		}
	}
	if ValidFilter(strings.Repeat("a", 65535)) != nil {
		t.Error("ValidFilter refused a filter of 65535 bytes")
	}
}

func TestCheckUserACL(t *testing.T) {
	for _, c := range []struct {
		role string
		acl  ACL
		want string
	}{
		{RoleDevice, ACL{Filter: "zigbee2mqtt/#", Read: true, Write: true}, ""},
		{"", ACL{Filter: "hearth/#", Read: true}, ""},
		{RoleDevice, ACL{Filter: "hearth/x/y/other", Write: true}, ""},
		{RoleDevice, ACL{Filter: "hearth/#", Write: true}, "command topics"},
		{"", ACL{Filter: "#", Write: true}, "command topics"},
		{RoleDevice, ACL{Filter: "+/+/+/set", Write: true}, "command topics"},
		{RoleDevice, ACL{Filter: "hearth/lock/front_door/set", Write: true}, "integration role"},
		{RoleIntegration, ACL{Filter: "hearth/#", Write: true}, ""},
		{RoleDevice, ACL{Filter: "a/b"}, "neither read nor write"},
		{RoleDevice, ACL{Filter: "a/#/b", Read: true}, "last"},
	} {
		err := CheckUserACL(c.role, c.acl)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckUserACL(%q, %+v) = %v, want error containing %q", c.role, c.acl, err, c.want)
		}
	}
}

func TestOverlaps(t *testing.T) {
	for _, c := range []struct {
		f, g string
		want bool
	}{
		{"hearth/#", "hearth/+/+/set", true},
		{"#", "hearth/+/+/set", true},
		{"hearth/lock/front/set", "hearth/+/+/set", true},
		{"hearth/+/+/state", "hearth/+/+/set", false},
		{"hearth/lock/set", "hearth/+/+/set", false},
		{"hearth/lock/front/set/x", "hearth/+/+/set", false},
		{"a/#", "a", true},
		{"a/b", "a", false},
		{"+/b", "a/+", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/broker/uptime", true},
	} {
		if got := overlaps(c.f, c.g); got != c.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", c.f, c.g, got, c.want)
		}
		if got := overlaps(c.g, c.f); got != c.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", c.g, c.f, got, c.want)
		}
	}
}
