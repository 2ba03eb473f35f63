package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// A request is work that must run on the writer goroutine, in order with the
// batches around it.
type request struct {
	kind   reqKind
	audit  AuditRow                               // reqAudit
	entity string                                 // reqDeleteState
	key    string                                 // reqPutKV, reqDeleteKV
	value  string                                 // reqPutKV
	exec   func(context.Context, *sql.Conn) error // reqExec
	reply  chan reply
}

type reqKind int

const (
	reqFlush reqKind = iota
	reqAudit
	reqDeleteState
	reqCompact
	reqPutKV
	reqDeleteKV
	reqExec
)

type reply struct {
	err     error
	compact CompactStats
}

// run is the writer goroutine.
func (db *DB) run() {
	defer close(db.done)
	tick := time.NewTicker(db.opts.BatchInterval)
	defer tick.Stop()
	var compactC <-chan time.Time
	if db.opts.CompactEvery > 0 {
		t := time.NewTicker(db.opts.CompactEvery)
		defer t.Stop()
		compactC = t.C
	}
	ctx := context.Background()
	for {
		if db.opts.OnTick != nil {
			db.opts.OnTick()
		}
		select {
		case <-db.quit:
			db.finalErr = db.commit(ctx, nil, nil)
			return
		case <-tick.C:
			_ = db.commit(ctx, nil, nil)
		case <-db.kick:
			// After a failure only the ticker retries, so a stream of
			// appends on a full disk does not spin on the commit.
			if !db.failing() {
				_ = db.commit(ctx, nil, nil)
			}
		case r := <-db.reqs:
			r.reply <- db.serve(ctx, r)
		case <-compactC:
			st, err := db.compact(ctx)
			if err != nil {
				db.opts.Logger.Error("compact", "err", err)
			} else if st != (CompactStats{}) {
				db.opts.Logger.Info("compacted", "downsampled", st.Downsampled,
					"deleted_raw", st.DeletedRaw, "deleted_downsampled", st.DeletedDownsampled)
			}
		}
	}
}

func (db *DB) serve(ctx context.Context, r request) reply {
	switch r.kind {
	case reqAudit:
		return reply{err: db.commit(ctx, &r.audit, nil)}
	case reqDeleteState:
		return reply{err: db.commit(ctx, nil, func(ctx context.Context, c *sql.Conn) error {
			_, err := c.ExecContext(ctx,
				"DELETE FROM state WHERE series IN (SELECT id FROM series WHERE entity = ?)", r.entity)
			return err
		})}
	case reqCompact:
		st, err := db.compact(ctx)
		return reply{err: err, compact: st}
	case reqDeleteKV:
		return reply{err: db.commit(ctx, nil, func(ctx context.Context, c *sql.Conn) error {
			_, err := c.ExecContext(ctx, "DELETE FROM kv WHERE key = ?", r.key)
			return err
		})}
	case reqPutKV:
		return reply{err: db.commit(ctx, nil, func(ctx context.Context, c *sql.Conn) error {
			return db.putKV(ctx, c, r.key, r.value)
		})}
	case reqExec:
		return reply{err: db.commit(ctx, nil, r.exec)}
	default:
		return reply{err: db.commit(ctx, nil, nil)}
	}
}

// call runs r on the writer goroutine and waits for its reply. If ctx ends
// first, the work may still be done.
func (db *DB) call(ctx context.Context, r request) (reply, error) {
	r.reply = make(chan reply, 1)
	select {
	case db.reqs <- r:
	case <-db.done:
		return reply{}, ErrClosed
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
	select {
	case rep := <-r.reply:
		return rep, rep.err
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
}

func (db *DB) failing() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.commitErr != nil
}

func (db *DB) kickWriter() {
	select {
	case db.kick <- struct{}{}:
	default:
	}
}

// commit writes everything pending, plus a durable audit row or more work in
// the same transaction if given. A batch that fails stays pending, ahead of
// what was appended since, and is retried.
func (db *DB) commit(ctx context.Context, durable *AuditRow, after func(context.Context, *sql.Conn) error) error {
	db.mu.Lock()
	b := batch{changes: db.pending, audits: db.pendingAud, after: after, committed: db.committed.Load()}
	if len(b.changes) == 0 && len(b.audits) == 0 && durable == nil && after == nil {
		db.mu.Unlock()
		return nil
	}
	db.pending, db.spare = db.spare, nil
	db.pendingAud = nil
	db.inflight = len(b.changes)
	db.mu.Unlock()
	if durable != nil {
		b.audits = append(b.audits, *durable)
		b.durable = true
	}

	start := time.Now()
	maxSeq, err := db.w.write(ctx, &b)
	took := time.Since(start)

	db.mu.Lock()
	defer db.mu.Unlock()
	db.inflight = 0
	if err != nil {
		db.pending = append(b.changes, db.pending...)
		db.pendingAud = append(b.audits, db.pendingAud...)
		db.stats.CommitErrors++
		db.stats.LastError = err.Error()
		// A full disk fails every tick: say so at once, then once a minute.
		if db.commitErr == nil || time.Since(db.lastFailLog) >= time.Minute {
			db.opts.Logger.Error("commit failed, will retry", "err", err,
				"pending", len(db.pending), "failures", db.stats.CommitErrors)
			db.lastFailLog = time.Now()
		}
		db.commitErr = err
	} else {
		if db.commitErr != nil {
			db.opts.Logger.Info("commit succeeded after failures", "changes", len(b.changes))
		}
		db.commitErr = nil
		if maxSeq > b.committed {
			db.committed.Store(maxSeq)
		}
		db.stats.Commits++
		db.stats.ChangesWritten += uint64(len(b.changes))
		db.stats.AuditWritten += uint64(len(b.audits))
		db.stats.LastCommit = time.Now()
		db.stats.LastCommitDuration = took
		if b.durable {
			db.stats.DurableCommits++
		}
		// Reuse the buffer, unless a backlog grew it far past a batch.
		if cap(b.changes) <= 4*db.opts.BatchSize {
			clear(b.changes) // let the strings go
			db.spare = b.changes[:0]
		}
	}
	close(db.attempted)
	db.attempted = make(chan struct{})
	db.notFull.Broadcast()
	return err
}

// Append hands changes to the group-commit writer. It copies them, and
// blocks only while MaxPending changes are waiting to be committed. After
// Close it drops them (and logs that once).
func (db *DB) Append(changes []Change) {
	if len(changes) == 0 {
		return
	}
	db.mu.Lock()
	for !db.closed && len(db.pending)+db.inflight >= db.opts.MaxPending {
		db.notFull.Wait()
	}
	if db.closed {
		db.mu.Unlock()
		db.lateOnce.Do(func() {
			db.opts.Logger.Warn("changes appended after close are dropped", "changes", len(changes))
		})
		return
	}
	db.pending = append(db.pending, changes...)
	full := len(db.pending) >= db.opts.BatchSize
	db.mu.Unlock()
	if full {
		db.kickWriter()
	}
}

// Committed returns the highest Change.Seq committed so far (0 if none).
func (db *DB) Committed() uint64 { return db.committed.Load() }

// WaitCommitted asks the writer to commit now and returns once Committed()
// >= seq, or ctx ends, or a commit attempt fails (with that error).
func (db *DB) WaitCommitted(ctx context.Context, seq uint64) error {
	for {
		if db.committed.Load() >= seq {
			return nil
		}
		db.mu.Lock()
		attempted := db.attempted
		db.mu.Unlock()
		db.kickWriter()
		select {
		case <-attempted:
		case <-db.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if db.committed.Load() >= seq {
			return nil
		}
		db.mu.Lock()
		err := db.commitErr
		db.mu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-db.done:
			return ErrClosed
		default:
		}
	}
}

// Flush commits everything appended so far and returns when it is done.
func (db *DB) Flush(ctx context.Context) error {
	_, err := db.call(ctx, request{kind: reqFlush})
	return err
}

// Audit records row. It assigns row.ID when 0 and row.At when zero; a row
// whose ID is already in the log replaces it (a "pending" row gets its
// outcome). A non-durable row is committed with the next batch. A durable
// row is committed at once, with the pending batch, with synchronous=FULL,
// and Audit returns after that commit; if the commit fails, the row stays
// queued and Audit returns the error.
func (db *DB) Audit(ctx context.Context, row *AuditRow, durable bool) error {
	if row == nil {
		return errors.New("audit: nil row")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if row.ID == 0 {
		row.ID = db.nextAudit.Add(1) - 1
	} else {
		for n := db.nextAudit.Load(); row.ID >= n && !db.nextAudit.CompareAndSwap(n, row.ID+1); n = db.nextAudit.Load() {
		}
	}
	if row.At.IsZero() {
		row.At = db.opts.Now()
	}
	if durable {
		_, err := db.call(ctx, request{kind: reqAudit, audit: *row})
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	db.pendingAud = append(db.pendingAud, *row)
	return nil
}

// DeleteState forgets an entity's current state; its history stays. It is
// committed with the pending batch, after it.
func (db *DB) DeleteState(ctx context.Context, entity string) error {
	_, err := db.call(ctx, request{kind: reqDeleteState, entity: entity})
	return err
}

// Compact downsamples raw history older than RawRetention into
// DownsampleStep buckets and deletes it, then deletes downsampled rows older
// than DownsampledRetention. It runs on the writer, between batches.
func (db *DB) Compact(ctx context.Context) (CompactStats, error) {
	rep, err := db.call(ctx, request{kind: reqCompact})
	return rep.compact, err
}

// Stats returns the writer's counters.
func (db *DB) Stats() Stats {
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.stats
	s.Pending = len(db.pending) + db.inflight
	return s
}
