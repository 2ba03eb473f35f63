package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/store"
)

func TestDB_Audit(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	opts := testOptions(t)
	opts.BatchInterval = time.Hour
	db := MustOpen(t, path, opts)

	t.Run("non-durable rows go with the next batch", func(t *testing.T) {
		row := &store.AuditRow{At: t0, Principal: "owner", Source: "cli", Entity: "lock.front_door",
			Action: "lock", Args: `{}`, Outcome: "ok", Duration: 1500 * time.Millisecond}
		if err := db.Audit(ctx, row, false); err != nil {
			t.Fatalf("Audit()=%v", err)
		}
		if got, want := row.ID, int64(1); got != want {
			t.Fatalf("row.ID=%d, want %d", got, want)
		}
		if rows, _ := db.QueryAudit(ctx, store.AuditQuery{}); len(rows) != 0 {
			t.Fatalf("QueryAudit() before the commit=%+v, want nothing", rows)
		}
		MustFlush(t, db)
		rows, err := db.QueryAudit(ctx, store.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		want := *row
		if len(rows) != 1 || !rows[0].At.Equal(want.At) {
			t.Fatalf("QueryAudit()=%+v, want [%+v]", rows, want)
		}
		rows[0].At = want.At
		if rows[0] != want {
			t.Fatalf("QueryAudit()[0]=%+v, want %+v", rows[0], want)
		}
	})

	t.Run("pending row replaced by its outcome", func(t *testing.T) {
		row := &store.AuditRow{At: t0, Principal: "rule:night", Source: "rules", Entity: "lock.back_door",
			Action: "lock", Args: `{"why":"night"}`, Outcome: "pending", Critical: true}
		if err := db.Audit(ctx, row, true); err != nil {
			t.Fatalf("Audit(pending)=%v", err)
		}
		row.Outcome, row.Error, row.Duration = "failed", "jammed", 4*time.Second
		if err := db.Audit(ctx, row, true); err != nil {
			t.Fatalf("Audit(outcome)=%v", err)
		}
		rows, err := db.QueryAudit(ctx, store.AuditQuery{Entity: "lock.back_door"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].Outcome != "failed" || rows[0].Error != "jammed" || !rows[0].Critical {
			t.Fatalf("QueryAudit()=%+v, want one failed, jammed, critical row", rows)
		}
	})

	t.Run("durable row is in the file when Audit returns", func(t *testing.T) {
		db.Append([]store.Change{num(77, t0, "lock.front_door", "locked", 1, "")})
		row := &store.AuditRow{At: t0, Principal: "owner", Source: "web", Entity: "lock.front_door",
			Action: "unlock", Args: `{}`, Outcome: "ok", Critical: true}
		durable := db.Stats().DurableCommits
		if err := db.Audit(ctx, row, true); err != nil {
			t.Fatalf("Audit()=%v", err)
		}
		var outcome string
		if err := MustRawDB(t, "file:"+path+"?mode=ro").QueryRow(
			"SELECT outcome FROM audit WHERE id = ?", row.ID).Scan(&outcome); err != nil {
			t.Fatalf("reading the row through another connection: %v", err)
		}
		if got, want := outcome, "ok"; got != want {
			t.Fatalf("outcome=%q, want %q", got, want)
		}
		if got, want := db.Committed(), uint64(77); got != want {
			t.Fatalf("Committed()=%d, want %d: the pending batch goes with a durable row", got, want)
		}
		if got, want := db.Stats().DurableCommits, durable+1; got != want {
			t.Fatalf("Stats().DurableCommits=%d, want %d", got, want)
		}
		if got, want := db.Pragmas()["synchronous"], "1"; got != want {
			t.Fatalf("synchronous=%s, want %s", got, want)
		}
	})

	t.Run("ids continue after reopen", func(t *testing.T) {
		rows, err := db.QueryAudit(ctx, store.AuditQuery{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		last := rows[0].ID
		MustClose(t, db)
		db2 := MustOpen(t, path, opts)
		row := &store.AuditRow{Principal: "owner", Action: "lock", Outcome: "denied"}
		if err := db2.Audit(ctx, row, true); err != nil {
			t.Fatal(err)
		}
		if got, want := row.ID, last+1; got != want {
			t.Fatalf("row.ID=%d, want %d", got, want)
		}
		if row.At.IsZero() {
			t.Fatalf("row.At is zero, want it set")
		}
		if err := db.Audit(ctx, row, false); err == nil {
			t.Fatalf("Audit() on a closed store=nil, want an error")
		}
	})
}

func TestDB_QueryAudit(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t, tempPath(t), testOptions(t))
	for i, r := range []struct{ principal, entity string }{
		{"owner", "lock.front_door"},
		{"rule:night", "lock.front_door"},
		{"owner", "thermostat.hall"},
		{"assistant:alexa", "lock.front_door"},
		{"owner", "lock.front_door"},
	} {
		row := &store.AuditRow{At: t0.Add(time.Duration(i) * time.Minute), Principal: r.principal,
			Entity: r.entity, Action: "x", Args: "{}", Outcome: "ok"}
		if err := db.Audit(ctx, row, false); err != nil {
			t.Fatal(err)
		}
	}
	MustFlush(t, db)
	for _, tc := range []struct {
		name string
		q    store.AuditQuery
		want []int64
	}{
		{"all, newest first", store.AuditQuery{}, []int64{5, 4, 3, 2, 1}},
		{"entity", store.AuditQuery{Entity: "lock.front_door"}, []int64{5, 4, 2, 1}},
		{"principal", store.AuditQuery{Principal: "owner"}, []int64{5, 3, 1}},
		{"both", store.AuditQuery{Principal: "owner", Entity: "lock.front_door"}, []int64{5, 1}},
		{"since and until, inclusive", store.AuditQuery{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []int64{4, 3, 2}},
		{"before id", store.AuditQuery{BeforeID: 4}, []int64{3, 2, 1}},
		{"limit", store.AuditQuery{Limit: 2}, []int64{5, 4}},
		{"page", store.AuditQuery{Entity: "lock.front_door", BeforeID: 4, Limit: 1}, []int64{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.QueryAudit(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range rows {
				got = append(got, r.ID)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("QueryAudit(%+v) ids=%v, want %v", tc.q, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("QueryAudit(%+v) ids=%v, want %v", tc.q, got, tc.want)
				}
			}
		})
	}
}
