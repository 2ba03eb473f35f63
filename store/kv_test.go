package store_test

import (
	"context"
	"path/filepath"
	"testing"
)

func TestDB_KV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	ctx := context.Background()
	db := MustOpen(t, path, testOptions(t))
	if _, ok, err := db.GetKV(ctx, "thermostat.living_room"); err != nil || ok {
		t.Fatalf("GetKV on an empty store = %v, %v", ok, err)
	}
	for _, v := range []string{`{"comp_off":"2026-11-25T03:00:00Z"}`, `{"comp_off":"2026-11-25T03:05:00Z"}`} {
		if err := db.PutKV(ctx, "thermostat.living_room", v); err != nil {
			t.Fatal(err)
		}
		got, ok, err := db.GetKV(ctx, "thermostat.living_room")
		if err != nil || !ok || got != v {
			t.Fatalf("GetKV()=%q, %v, %v; want %q", got, ok, err, v)
		}
	}
	for _, k := range []string{"mqtt/user/ha", "mqtt/user/esp1", "mqtt/userx"} {
		if err := db.PutKV(ctx, k, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteKV(ctx, "mqtt/user/esp1"); err != nil {
		t.Fatal(err)
	}
	list, err := db.ListKV(ctx, "mqtt/user/")
	if err != nil || len(list) != 1 || list[0][0] != "mqtt/user/ha" {
		t.Fatalf("ListKV()=%v, %v; want only mqtt/user/ha", list, err)
	}
	MustClose(t, db)
	db = MustOpen(t, path, testOptions(t))
	if got, ok, _ := db.GetKV(ctx, "thermostat.living_room"); !ok || got != `{"comp_off":"2026-11-25T03:05:00Z"}` {
		t.Fatalf("after reopen GetKV()=%q, %v", got, ok)
	}
}
