package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// ApplicationID is written to the header of every Hearth store ("HRTH").
const ApplicationID = 0x48525448

const sqliteMagic = "SQLite format 3\x00"

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order; their numbers must
// run 1, 2, 3... so that user_version says exactly which have run.
func migrations() ([]migration, error) {
	ents, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %d", m.name, i+1)
		}
	}
	return ms, nil
}

// DB is an open store. Its methods are safe for concurrent use.
type DB struct {
	lock    *os.File // held while open: one process per store
	path    string
	opts    Options
	pragmas map[string]string

	wdb *sql.DB // the writer's pool: one connection, held by w
	w   *writer // used only by the writer goroutine once Open returns
	rdb *sql.DB // read-only pool for queries

	nextAudit atomic.Int64
	committed atomic.Uint64

	mu          sync.Mutex
	notFull     *sync.Cond // Append waits on it for back-pressure
	pending     []Change
	spare       []Change // the last batch's buffer, reused
	pendingAud  []AuditRow
	inflight    int // changes taken by the writer and not yet committed
	closed      bool
	commitErr   error         // of the last commit attempt; nil after a success
	attempted   chan struct{} // closed and replaced after every commit attempt
	stats       Stats
	lastFailLog time.Time

	kick      chan struct{}
	reqs      chan request
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	finalErr  error     // of the writer's last commit, read after done
	lateOnce  sync.Once // Append after Close logs once
}

// Open opens the store at path, creating it if it does not exist. The
// directory must exist. A file that is not a Hearth store, or that a newer
// Hearth has migrated, is refused without being modified.
func Open(path string, opts Options) (*DB, error) {
	opts, err := opts.resolve()
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	ms, err := migrations()
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open store %s: directory %s does not exist: %w", path, dir, err)
	} else if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("open store %s: %s is not a directory", path, dir)
	}
	if err := inspect(path, len(ms)); err != nil {
		return nil, err
	}
	lk, err := lock(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db := &DB{
		lock:      lk,
		path:      path,
		opts:      opts,
		attempted: make(chan struct{}),
		kick:      make(chan struct{}, 1),
		reqs:      make(chan request),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	db.notFull = sync.NewCond(&db.mu)
	if err := db.open(ms); err != nil {
		_ = db.closeHandles(false)
		lk.Close()
		return nil, fmt.Errorf("open store %s: %w", path, classify(err))
	}
	go db.run()
	return db, nil
}

// inspect refuses, without writing anything, a file that is not an SQLite
// database, is another application's, or has a schema we do not know.
func inspect(path string, latest int) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	defer f.Close()
	var hdr [100]byte
	n, err := io.ReadFull(f, hdr[:])
	switch {
	case n == 0 && err == io.EOF:
		return nil // empty: SQLite treats it as a new database
	case err != nil && err != io.ErrUnexpectedEOF:
		return fmt.Errorf("open store %s: %w", path, err)
	case n < len(sqliteMagic) || string(hdr[:len(sqliteMagic)]) != sqliteMagic:
		return fmt.Errorf("open store %s: %w: it starts %q", path, ErrNotSQLite, hdr[:min(n, len(sqliteMagic))])
	case n < len(hdr):
		return fmt.Errorf("open store %s: %w: SQLite header cut short at %d bytes", path, ErrCorrupt, n)
	}
	// The header gives the answer for most foreign files without SQLite
	// touching them.
	if id := binary.BigEndian.Uint32(hdr[68:]); id != 0 && id != ApplicationID {
		return foreignID(path, id)
	}
	// The header can be stale while a WAL holds newer pages, so ask SQLite,
	// read-only. immutable=1 when no journal is next to the file, so that not
	// even a -shm file is created.
	q := url.Values{"mode": {"ro"}}
	if !exists(path+"-wal") && !exists(path+"-journal") {
		q.Set("immutable", "1")
	}
	probe, err := sql.Open("sqlite3", fileURI(path, q))
	if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	defer probe.Close()
	var id, version, objects int64
	err = probe.QueryRow("PRAGMA application_id").Scan(&id)
	if err == nil {
		err = probe.QueryRow("PRAGMA user_version").Scan(&version)
	}
	if err == nil {
		err = probe.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&objects)
	}
	if err != nil {
		return fmt.Errorf("open store %s: read header: %w", path, classify(err))
	}
	switch {
	case id != 0 && id != ApplicationID:
		return foreignID(path, uint32(id))
	case id == 0 && (objects > 0 || version != 0):
		var names []string
		rows, err := probe.Query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name LIMIT 5")
		if err == nil {
			for rows.Next() {
				var s string
				if rows.Scan(&s) == nil {
					names = append(names, s)
				}
			}
			rows.Close()
		}
		return fmt.Errorf("open store %s: %w: no Hearth application_id, user_version %d, tables %v",
			path, ErrForeign, version, names)
	case version > int64(latest):
		return fmt.Errorf("open store %s: %w: schema version %d, this build knows up to %d",
			path, ErrNewerSchema, version, latest)
	}
	return nil
}

func foreignID(path string, id uint32) error {
	return fmt.Errorf("open store %s: %w: application_id 0x%08x, Hearth's is 0x%08x",
		path, ErrForeign, id, ApplicationID)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// fileURI escapes the characters that would end an SQLite URI's path.
func fileURI(path string, q url.Values) string {
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + p + "?" + q.Encode()
}

// classify wraps SQLite's corruption errors in ErrCorrupt.
func classify(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

func (db *DB) open(ms []migration) error {
	ctx := context.Background()
	if !exists(db.path) {
		// SQLite would create the file 0644; the audit log is nobody else's
		// business, and -wal/-shm take the main file's mode.
		f, err := os.OpenFile(db.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		f.Close()
	}
	var err error
	db.wdb, err = sql.Open("sqlite3", fileURI(db.path, url.Values{"mode": {"rw"}}))
	if err != nil {
		return err
	}
	db.wdb.SetMaxOpenConns(1)
	conn, err := db.wdb.Conn(ctx)
	if err != nil {
		return err
	}
	db.w = &writer{conn: conn, log: db.opts.Logger}
	if db.pragmas, err = setPragmas(ctx, conn); err != nil {
		return err
	}
	if err := migrate(ctx, conn, ms); err != nil {
		return err
	}
	for _, name := range []string{"application_id", "user_version"} {
		var v string
		if err := conn.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			return err
		}
		db.pragmas[name] = v
	}
	if got, want := db.pragmas["application_id"], strconv.Itoa(ApplicationID); got != want {
		return fmt.Errorf("application_id reads back %s, want %s", got, want)
	}
	var seq, maxAudit int64
	// See writer.write for why both.
	if err := conn.QueryRowContext(ctx, `SELECT max((SELECT value FROM meta WHERE key = 'committed_seq'),
		(SELECT coalesce(max(seq), 0) FROM state))`).Scan(&seq); err != nil {
		return fmt.Errorf("read committed seq: %w", err)
	}
	db.committed.Store(uint64(seq))
	if err := conn.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM audit").Scan(&maxAudit); err != nil {
		return fmt.Errorf("read audit ids: %w", err)
	}
	db.nextAudit.Store(maxAudit + 1)
	if err := db.w.prepare(ctx); err != nil {
		return err
	}
	db.rdb, err = sql.Open("sqlite3", fileURI(db.path, url.Values{"mode": {"ro"}, "_query_only": {"1"}}))
	if err != nil {
		return err
	}
	db.rdb.SetMaxOpenConns(4)
	db.rdb.SetMaxIdleConns(2)
	return db.rdb.PingContext(ctx)
}

// setPragmas sets the per-connection settings and reads every one back: a
// filesystem that cannot do WAL, for one, silently keeps another mode.
func setPragmas(ctx context.Context, conn *sql.Conn) (map[string]string, error) {
	want := []struct{ name, set, want string }{
		{"busy_timeout", "5000", "5000"},
		{"journal_mode", "WAL", "wal"},
		{"synchronous", "NORMAL", "1"},
		{"foreign_keys", "ON", "1"},
		// A large transaction (a first Compact) leaves a large WAL behind;
		// this truncates it at the next checkpoint instead of keeping it.
		{"journal_size_limit", "16777216", "16777216"},
	}
	got := map[string]string{}
	for _, p := range want {
		if _, err := conn.ExecContext(ctx, "PRAGMA "+p.name+" = "+p.set); err != nil {
			return nil, fmt.Errorf("set %s: %w", p.name, err)
		}
		var v string
		if err := conn.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(&v); err != nil {
			return nil, fmt.Errorf("read %s: %w", p.name, err)
		}
		if strings.ToLower(v) != p.want {
			return nil, fmt.Errorf("PRAGMA %s = %s reads back %q, want %q", p.name, p.set, v, p.want)
		}
		got[p.name] = v
	}
	return got, nil
}

// migrate runs each migration not yet applied in its own transaction,
// together with the user_version that records it.
func migrate(ctx context.Context, conn *sql.Conn, ms []migration) error {
	for _, m := range ms {
		if err := func() (err error) {
			if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
				return err
			}
			defer func() {
				if err != nil {
					_, _ = conn.ExecContext(ctx, "ROLLBACK")
				}
			}()
			var v int
			if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
				return err
			}
			if v >= m.version {
				_, err := conn.ExecContext(ctx, "COMMIT")
				return err
			}
			if v != m.version-1 {
				return fmt.Errorf("%w: schema version %d", ErrNewerSchema, v)
			}
			if _, err := conn.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
				return err
			}
			_, err = conn.ExecContext(ctx, "COMMIT")
			return err
		}(); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// Path returns the store file's path.
func (db *DB) Path() string { return db.path }

// Pragmas returns the connection settings as read back from SQLite at Open.
func (db *DB) Pragmas() map[string]string {
	m := make(map[string]string, len(db.pragmas))
	for k, v := range db.pragmas {
		m[k] = v
	}
	return m
}

// Close commits what is pending, stops the writer, checkpoints the WAL into
// the file and truncates it, and closes. It returns the first error.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.mu.Lock()
		db.closed = true
		db.notFull.Broadcast()
		db.mu.Unlock()
		close(db.quit)
		<-db.done
		err := db.finalErr
		db.mu.Lock()
		lost := len(db.pending)
		db.mu.Unlock()
		if err != nil {
			db.opts.Logger.Error("closing with uncommitted changes", "changes", lost, "err", err)
		}
		if e := db.closeHandles(true); err == nil {
			err = e
		}
		if e := db.lock.Close(); err == nil {
			err = e
		}
		db.closeErr = err
	})
	return db.closeErr
}

// closeHandles closes the readers first so that nothing holds the WAL when
// the writer checkpoints it.
func (db *DB) closeHandles(checkpoint bool) error {
	var err error
	keep := func(e error) {
		if err == nil {
			err = e
		}
	}
	if db.rdb != nil {
		keep(db.rdb.Close())
	}
	if db.w != nil {
		if checkpoint {
			keep(db.w.checkpoint())
		}
		keep(db.w.close())
	}
	if db.wdb != nil {
		keep(db.wdb.Close())
	}
	return err
}

// IntegrityCheck runs PRAGMA integrity_check; it returns nil only for "ok".
func (db *DB) IntegrityCheck(ctx context.Context) error {
	rows, err := db.rdb.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity check %s: %w", db.path, classify(err))
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("integrity check %s: %w", db.path, err)
		}
		msgs = append(msgs, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check %s: %w", db.path, classify(err))
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil
	}
	if len(msgs) > 5 {
		msgs = append(msgs[:5], fmt.Sprintf("and %d more", len(msgs)-5))
	}
	return fmt.Errorf("integrity check %s: %w: %s", db.path, ErrCorrupt, strings.Join(msgs, "; "))
}
