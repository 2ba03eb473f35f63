package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hearth-hub/hearth/store"
)

func TestDB_ApplyMQTT(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	db := MustOpen(t, path, testOptions(t))

	rows := func(db *store.DB, kind string) string {
		t.Helper()
		rs, err := db.LoadMQTT(ctx, kind)
		if err != nil {
			t.Fatalf("LoadMQTT(%s): %v", kind, err)
		}
		var b strings.Builder
		for _, r := range rs {
			b.WriteString(r.Client + "|" + r.Name + "=" + string(r.Value) + ";")
		}
		return b.String()
	}

	t.Run("puts, replaces and deletes in one call", func(t *testing.T) {
		err := db.ApplyMQTT(ctx, []store.MQTTOp{
			{Kind: store.MQTTClient, Client: "ha", Value: []byte(`{"id":"ha"}`)},
			{Kind: store.MQTTSub, Client: "ha", Name: "hearth/#", Value: []byte(`1`)},
			{Kind: store.MQTTSub, Client: "ha", Name: "homeassistant/#", Value: []byte(`0`)},
			{Kind: store.MQTTInflight, Client: "ha", Name: "7", Value: []byte(`m7`)},
			{Kind: store.MQTTRetained, Name: "devices/esp1/temp", Value: []byte(`21.5`)},
			{Kind: store.MQTTRetained, Name: "devices/esp1/temp", Value: []byte(`21.6`)},
			{Kind: store.MQTTSub, Client: "ha", Name: "homeassistant/#", Delete: true},
			{Kind: store.MQTTInflight, Client: "ha", Name: "8", Delete: true}, // missing: no error
		})
		if err != nil {
			t.Fatalf("ApplyMQTT()=%v", err)
		}
		for kind, want := range map[string]string{
			store.MQTTClient:   `ha|={"id":"ha"};`,
			store.MQTTSub:      `ha|hearth/#=1;`,
			store.MQTTInflight: `ha|7=m7;`,
			store.MQTTRetained: `|devices/esp1/temp=21.6;`,
		} {
			if got := rows(db, kind); got != want {
				t.Fatalf("LoadMQTT(%s)=%s, want %s", kind, got, want)
			}
		}
	})

	t.Run("bad ops are refused and write nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			op   store.MQTTOp
			want string
		}{
			{"unknown kind", store.MQTTOp{Kind: "will", Client: "ha", Value: []byte("x")}, `op 1 (client "ha", name ""): unknown kind "will"`},
			{"put without a value", store.MQTTOp{Kind: store.MQTTRetained, Name: "a/b"}, `op 1 (retained, client "", name "a/b"): put without a value`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := db.ApplyMQTT(ctx, []store.MQTTOp{
					{Kind: store.MQTTRetained, Name: "devices/esp1/temp", Delete: true},
					tc.op,
				})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("ApplyMQTT()=%v, want an error with %q", err, tc.want)
				}
				if got, want := rows(db, store.MQTTRetained), `|devices/esp1/temp=21.6;`; got != want {
					t.Fatalf("LoadMQTT(retained)=%s, want %s", got, want)
				}
			})
		}
		if _, err := db.LoadMQTT(ctx, "will"); err == nil || !strings.Contains(err.Error(), `unknown kind "will"`) {
			t.Fatalf("LoadMQTT(will)=%v, want an unknown kind error", err)
		}
	})

	t.Run("rows survive reopen", func(t *testing.T) {
		MustClose(t, db)
		db2 := MustOpen(t, path, testOptions(t))
		if got, want := db2.Pragmas()["user_version"], "3"; got != want {
			t.Fatalf("user_version=%s, want %s", got, want)
		}
		if got, want := rows(db2, store.MQTTSub), `ha|hearth/#=1;`; got != want {
			t.Fatalf("after reopen LoadMQTT(sub)=%s, want %s", got, want)
		}
		if got, want := rows(db2, store.MQTTInflight), `ha|7=m7;`; got != want {
			t.Fatalf("after reopen LoadMQTT(inflight)=%s, want %s", got, want)
		}
		if err := db.ApplyMQTT(ctx, []store.MQTTOp{{Kind: store.MQTTClient, Client: "x", Value: []byte("x")}}); err == nil {
			t.Fatalf("ApplyMQTT() on a closed store=nil, want an error")
		}
	})

	t.Run("a store of schema 2 is migrated", func(t *testing.T) {
		path := tempPath(t)
		MustClose(t, MustOpen(t, path, testOptions(t)))
		MustExec(t, MustRawDB(t, path), "DROP TABLE mqtt", "PRAGMA user_version = 2")
		db := MustOpen(t, path, testOptions(t))
		if got, want := db.Pragmas()["user_version"], "3"; got != want {
			t.Fatalf("user_version=%s, want %s", got, want)
		}
		if err := db.ApplyMQTT(ctx, []store.MQTTOp{{Kind: store.MQTTRetained, Name: "t", Value: []byte("v")}}); err != nil {
			t.Fatalf("ApplyMQTT() after migration: %v", err)
		}
	})
}
