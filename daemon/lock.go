package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/hearth-hub/hearth/control/lock"
	"github.com/hearth-hub/hearth/drivers/bolt"
	"github.com/hearth-hub/hearth/drivers/contact"
	"github.com/hearth-hub/hearth/drivers/strike"
	"github.com/hearth-hub/hearth/hub"
	"github.com/hearth-hub/hearth/store"
)

// attachLock builds a lock on its parts and shows it as lock.<name>, whose
// lock and unlock actions are critical: audited durably before they run
// and again before they answer.
func (d *Daemon) attachLock(lc LockConfig) (partLoop, error) {
	id := hub.ID(lc.ID)
	log := d.log.With("component", "lock", "entity", lc.ID)
	var b lock.Bolt
	var s lock.Strike
	if lc.Bolt != "" {
		dev, err := d.hw.part(lc.Bolt)
		if err != nil {
			return nil, err
		}
		bd, ok := dev.(*bolt.Dev)
		if !ok {
			return nil, fmt.Errorf("%s: part %q is not a bolt", id, lc.Bolt)
		}
		b = bd
	}
	if lc.Strike != "" {
		dev, err := d.hw.part(lc.Strike)
		if err != nil {
			return nil, err
		}
		sd, ok := dev.(*strike.Dev)
		if !ok {
			return nil, fmt.Errorf("%s: part %q is not a strike", id, lc.Strike)
		}
		s = sd
	}
	var doorClosed func() (bool, error)
	if lc.Door != "" {
		dev, err := d.hw.part(lc.Door)
		if err != nil {
			return nil, err
		}
		c, ok := dev.(*contact.Dev)
		if !ok {
			return nil, fmt.Errorf("%s: part %q is not a contact", id, lc.Door)
		}
		doorClosed = c.Closed
	}
	cfg := lock.Config{AutoRelock: time.Duration(lc.AutoRelock), Ajar: time.Duration(lc.Ajar), Clock: d.clock}
	l, err := lock.New(cfg, b, s, doorClosed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	if lc.Door != "" {
		d.onContact(lc.Door, l.DoorChanged)
	}
	e := hub.Entity{
		ID: id, Name: lc.Name,
		Attrs: []hub.AttrSpec{
			{Name: "state", Type: hub.TypeEnum, Options: []string{"locked", "unlocked", "locking", "unlocking", "jammed", "unknown"}},
			{Name: "door", Type: hub.TypeEnum, Options: []string{"open", "closed", "ajar", "unknown"}},
			{Name: "reason", Type: hub.TypeString},
		},
		Actions: []hub.ActionSpec{{Name: "lock", Critical: true}, {Name: "unlock", Critical: true}},
		Handler: hub.HandlerFunc(func(ctx context.Context, cmd hub.Command) error {
			// A bolt must not stop half-way because the caller hung up.
			ctx = context.WithoutCancel(ctx)
			if cmd.Action == "lock" {
				return l.Lock(ctx)
			}
			return l.Unlock(ctx)
		}),
	}
	attrs := func(st lock.State) map[string]hub.Value {
		return map[string]hub.Value{"state": hub.Enum(string(st.Bolt)), "door": hub.Enum(string(st.Door)), "reason": hub.String(st.Reason)}
	}
	if err := d.hub.Register(e, attrs(l.State())); err != nil {
		return nil, err
	}
	last := l.State()
	l.OnChange(func(st lock.State) {
		if _, err := d.hub.Update(id, "lock:"+st.Source, "", attrs(st)); err != nil {
			log.Error("update", "err", err)
		}
		// A person turning the bolt by hand is a lock operation too.
		if st.Source == "manual" && st.Bolt != last.Bolt && (st.Bolt == "locked" || st.Bolt == "unlocked") {
			action := map[lock.BoltState]string{"locked": "lock", "unlocked": "unlock"}[st.Bolt]
			d.auditLockEvent(id, "manual", "hardware", action, nil, 0)
		}
		last = st
	})
	l.SetAuditHook(func(action string, err error, took time.Duration) {
		d.auditLockEvent(id, "rule:auto_relock", "lock", action, err, took)
	})
	return func(ctx context.Context) {
		if err := l.Run(ctx); err != nil {
			log.Error("lock loop ended", "err", err)
		}
		if err := l.Halt(); err != nil {
			log.Error("halt", "err", err)
		}
	}, nil
}

// auditLockEvent records, durably, a lock operation that did not come
// through the hub's command path.
func (d *Daemon) auditLockEvent(id hub.ID, principal, source, action string, err error, took time.Duration) {
	row := store.AuditRow{At: time.Now(), Principal: principal, Source: source, Entity: string(id), Action: action, Args: "{}", Outcome: "ok", Duration: took, Critical: true}
	if err != nil {
		row.Outcome, row.Error = "failed", err.Error()
	}
	if aerr := d.db.Audit(context.Background(), &row, true); aerr != nil {
		d.log.Error("audit of a lock operation failed", "entity", id, "action", action, "err", aerr)
	}
}
