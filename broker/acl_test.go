package broker

import (
	"strings"
	"testing"
)

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		acl, f string
		want   bool
	}{
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "b", false},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/+/c", true},
		{"a/+/c", "a/#", false},
		{"a/b/c", "a/+/c", false},
		{"a/+", "a/b/c", false},
		{"a/b", "a", false},
		{"hearth/+/+/set", "hearth/lock/front/set", true},
		{"hearth/+/+/state", "hearth/#", false},
	} {
		if got := covers(c.acl, c.f); got != c.want {
			t.Errorf("covers(%q, %q) = %v, want %v", c.acl, c.f, got, c.want)
		}
	}
}

// coversBySplit is covers written the plain way, splitting both into
// levels: the reference the allocation-free covers is checked against.
func coversBySplit(acl, f string) bool {
	a, t := strings.Split(acl, "/"), strings.Split(f, "/")
	if (a[0] == "+" || a[0] == "#") && strings.HasPrefix(t[0], "$") {
		return false
	}
	for i, level := range a {
		if level == "#" {
			return true
		}
		if i >= len(t) {
			return false
		}
		switch {
		case level == "+":
			if t[i] == "#" {
				return false
			}
		case t[i] == "+" || t[i] == "#" || level != t[i]:
			return false
		}
	}
	return len(t) == len(a)
}

// TestCovers_Exhaustive compares covers with coversBySplit on every pair
// of filters of one to three levels over a small alphabet.
func TestCovers_Exhaustive(t *testing.T) {
	levels := []string{"a", "b", "+", "#", "$x", ""}
	var all []string
	var grow func(prefix string, depth int)
	grow = func(prefix string, depth int) {
		for _, l := range levels {
			s := l
			if depth > 0 {
				s = prefix + "/" + l
			}
			all = append(all, s)
			if depth < 2 {
				grow(s, depth+1)
			}
		}
	}
	grow("", 0)
	for _, acl := range all {
		for _, f := range all {
			if got, want := covers(acl, f), coversBySplit(acl, f); got != want {
				t.Fatalf("covers(%q, %q) = %v, the split version says %v", acl, f, got, want)
			}
		}
	}
}

func BenchmarkCovers(b *testing.B) {
	for b.Loop() {
		covers("devices/esp1/#", "devices/esp1/sensor/temperature/state")
		covers("hearth/+/+/set", "devices/esp1/sensor/temperature/state")
	}
}

func TestPerms(t *testing.T) {
	dev, err := PermsFor(User{Name: "esp1", Filters: []ACL{{Filter: "hearth/#", Write: true}}})
	if err != nil {
		t.Fatal(err)
	}
	integ, _ := PermsFor(User{Name: "ha", Role: RoleIntegration})
	admin, _ := PermsFor(User{Name: "root", Role: RoleAdmin})
	for _, c := range []struct {
		name  string
		p     *Perms
		read  bool
		topic string
		want  bool
	}{
		{"device reads states", dev, true, "hearth/+/+/state", true},
		{"device reads all hearth", dev, true, "hearth/#", false},
		{"device reads another device", dev, true, "devices/esp2/#", false},
		{"device reads own", dev, true, "devices/esp1/#", true},
		{"device writes own", dev, false, "devices/esp1/temp", true},
		{"device writes another", dev, false, "devices/esp2/temp", false},
		{"device never sets, even with a filter", dev, false, "hearth/lock/front/set", false},
		{"device writes a granted extra", dev, false, "hearth/x/y/other", true},
		{"integration sets", integ, false, "hearth/lock/front/set", true},
		{"integration writes state", integ, false, "hearth/lock/front/state", false},
		{"integration reads discovery", integ, true, "homeassistant/#", true},
		{"admin all", admin, false, "anything/at/all", true},
		{"shared sub", integ, true, "$share/g/hearth/#", true},
	} {
		got := c.p.CanWrite(c.topic)
		if c.read {
			got = c.p.CanRead(c.topic)
		}
		if got != c.want {
			t.Errorf("%s: %s = %v, want %v", c.name, c.topic, got, c.want)
		}
	}
	if _, err := PermsFor(User{Name: "x", Role: "root"}); err == nil {
		t.Error("unknown role accepted")
	}
	if _, err := PermsFor(User{Name: "a/#"}); err == nil {
		t.Error("wildcard name accepted")
	}
}
