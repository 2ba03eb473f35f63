package hub_test

import (
	"strings"
	"testing"

	"github.com/hearth-hub/hearth/hub"
)

func TestParseID(t *testing.T) {
	t.Run("Valid", func(t *testing.T) {
		for _, tt := range []struct{ in, kind, name string }{
			{"thermostat.living_room", "thermostat", "living_room"},
			{"lock.front_door", "lock", "front_door"},
			{"sensor.hall_temperature_2", "sensor", "hall_temperature_2"},
			{"a.b", "a", "b"},
			{"x." + strings.Repeat("n", 64), "x", strings.Repeat("n", 64)},
		} {
			id, err := hub.ParseID(tt.in)
			if err != nil {
				t.Fatalf("ParseID(%q)=%v", tt.in, err)
			}
			if got, want := string(id), tt.in; got != want {
				t.Fatalf("ParseID(%q)=%q, want %q", tt.in, got, want)
			}
			if got, want := id.Kind(), tt.kind; got != want {
				t.Fatalf("ID(%q).Kind()=%q, want %q", tt.in, got, want)
			}
			if got, want := id.Name(), tt.name; got != want {
				t.Fatalf("ID(%q).Name()=%q, want %q", tt.in, got, want)
			}
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, in := range []string{
			"",
			"thermostat",
			".living_room",
			"thermostat.",
			"Thermostat.living_room",
			"thermostat.Living_Room",
			"thermostat.living-room",
			"thermostat.living room",
			"thermostat.living.room",
			"thermostat.café",
			"x." + strings.Repeat("n", 65),
		} {
			if id, err := hub.ParseID(in); err == nil {
				t.Fatalf("ParseID(%q)=%q, want an error", in, id)
			}
		}
	})

	t.Run("ErrorNamesInput", func(t *testing.T) {
		_, err := hub.ParseID("lock.Front")
		if err == nil || !strings.Contains(err.Error(), `"lock.Front"`) || !strings.Contains(err.Error(), `'F'`) {
			t.Fatalf("ParseID(lock.Front)=%v, want an error naming the id and the character", err)
		}
	})
}

func TestParsePrincipal(t *testing.T) {
	t.Run("Valid", func(t *testing.T) {
		for _, tt := range []struct{ in, kind string }{
			{"owner", "owner"},
			{"rule:porch_light", "rule"},
			{"mqtt:kitchen_sensor", "mqtt"},
			{"assistant:alexa", "assistant"},
		} {
			p, err := hub.ParsePrincipal(tt.in)
			if err != nil {
				t.Fatalf("ParsePrincipal(%q)=%v", tt.in, err)
			}
			if got, want := p, hub.Principal(tt.in); got != want {
				t.Fatalf("ParsePrincipal(%q)=%q, want %q", tt.in, got, want)
			}
			if got, want := p.Kind(), tt.kind; got != want {
				t.Fatalf("Principal(%q).Kind()=%q, want %q", tt.in, got, want)
			}
		}
		if got, want := hub.Owner, hub.Principal("owner"); got != want {
			t.Fatalf("Owner=%q, want %q", got, want)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, in := range []string{"", "root", "rule", "rule:", "mqtt:", "assistant:", "owner:me", "admin:x", ":x"} {
			if p, err := hub.ParsePrincipal(in); err == nil {
				t.Fatalf("ParsePrincipal(%q)=%q, want an error", in, p)
			}
		}
	})
}
