package broker

import "testing"

func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{`{"value": 21.5}`, `{"action": "lock"}`, `{"action": ""}`, `{"action": 3}`, `null`, `[]`, `"x"`, `{`, `{"target": 21.5, "action": "set"}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		action := "set"
		raw, err := decodeCommand(payload, &action)
		if err != nil {
			return
		}
		if raw == nil {
			t.Fatal("nil arguments without an error")
		}
		if _, ok := raw["action"]; ok {
			t.Fatal(`"action" left in the arguments`)
		}
		if action == "" {
			t.Fatal("empty action accepted")
		}
	})
}
