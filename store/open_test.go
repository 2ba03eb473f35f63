package store_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/store"
)

func TestDB_Open(t *testing.T) {
	t.Run("sets and reads back pragmas", func(t *testing.T) {
		db := MustOpen(t, tempPath(t), testOptions(t))
		got := db.Pragmas()
		for k, want := range map[string]string{
			"journal_mode":   "wal",
			"synchronous":    "1",
			"busy_timeout":   "5000",
			"foreign_keys":   "1",
			"application_id": strconv.Itoa(store.ApplicationID),
			"user_version":   "3",
		} {
			if got[k] != want {
				t.Fatalf("Pragmas()[%q]=%q, want %q", k, got[k], want)
			}
		}
	})

	t.Run("new file is private", func(t *testing.T) {
		path := tempPath(t)
		MustClose(t, MustOpen(t, path, testOptions(t)))
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
			t.Fatalf("mode=%v, want %v", got, want)
		}
	})

	t.Run("reopen runs no migration and keeps data", func(t *testing.T) {
		path := tempPath(t)
		db := MustOpen(t, path, testOptions(t))
		db.Append([]store.Change{num(42, t0, "sensor.a", "value", 1.5, "")})
		MustClose(t, db)
		before := MustHash(t, path)

		db = MustOpen(t, path, testOptions(t))
		if got, want := db.Committed(), uint64(42); got != want {
			t.Fatalf("Committed()=%d after reopen, want %d", got, want)
		}
		if got, want := db.Pragmas()["user_version"], "3"; got != want {
			t.Fatalf("user_version=%s, want %s", got, want)
		}
		MustClose(t, db)
		if MustHash(t, path) != before {
			t.Fatalf("reopening an up-to-date store changed its file")
		}
		// The WAL and its index are gone; the lock file stays (removing it would race the next opener).
		if got, want := MustList(t, filepath.Dir(path)), []string{"hearth.db", "hearth.db.lock"}; !slices.Equal(got, want) {
			t.Fatalf("files after Close=%v, want %v", got, want)
		}
	})

	t.Run("OnTick beats while idle", func(t *testing.T) {
		opts := testOptions(t)
		opts.BatchInterval = time.Millisecond
		var ticks atomic.Int64
		opts.OnTick = func() { ticks.Add(1) }
		MustOpen(t, tempPath(t), opts)
		MustWaitFor(t, "10 ticks", func() bool { return ticks.Load() >= 10 })
	})

	t.Run("empty file becomes a store", func(t *testing.T) {
		path := tempPath(t)
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		MustClose(t, MustOpen(t, path, testOptions(t)))
	})

	t.Run("missing directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope", "hearth.db")
		_, err := store.Open(path, testOptions(t))
		if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Open()=%v, want a not-exist error naming %s", err, path)
		}
	})

	t.Run("bad options", func(t *testing.T) {
		opts := testOptions(t)
		opts.DownsampleStep = 500 * 1e6 // half a second
		if _, err := store.Open(tempPath(t), opts); err == nil || !strings.Contains(err.Error(), "DownsampleStep") {
			t.Fatalf("Open()=%v, want an error naming DownsampleStep", err)
		}
	})
}

// TestDB_Open_refuses checks that a file that is not ours, or not one we can
// read, is refused with the right error and left exactly as it was.
func TestDB_Open_refuses(t *testing.T) {
	magic := "SQLite format 3\x00"
	for _, tc := range []struct {
		name  string
		make  func(t *testing.T, path string)
		want  error
		found string // in the message
	}{
		{"text file", writeFile("# hearth config\nhardware: sim\n"), store.ErrNotSQLite, "# hearth"},
		{"random bytes", func(t *testing.T, path string) {
			b := make([]byte, 8192)
			rand.Read(b)
			b[0] = 'x'
			writeFile(string(b))(t, path)
		}, store.ErrNotSQLite, "starts"},
		{"header cut inside the magic", writeFile(magic[:9]), store.ErrNotSQLite, "SQLite fo"},
		{"header cut after the magic", writeFile(magic + strings.Repeat("\x00", 30)), store.ErrCorrupt, "46 bytes"},
		{"foreign application_id", func(t *testing.T, path string) {
			MustExec(t, MustRawDB(t, path), "CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('hi')",
				"PRAGMA application_id = 42")
		}, store.ErrForeign, "0x0000002a"},
		{"foreign WAL database", func(t *testing.T, path string) {
			MustExec(t, MustRawDB(t, path), "PRAGMA journal_mode = WAL", "CREATE TABLE notes (body TEXT)",
				"PRAGMA application_id = 7")
		}, store.ErrForeign, "0x00000007"},
		{"foreign WAL database, closed", func(t *testing.T, path string) {
			raw := MustRawDB(t, path)
			MustExec(t, raw, "PRAGMA journal_mode = WAL", "CREATE TABLE notes (body TEXT)", "PRAGMA application_id = 7")
			raw.Close()
		}, store.ErrForeign, "0x00000007"},
		{"tables without application_id", func(t *testing.T, path string) {
			MustExec(t, MustRawDB(t, path), "CREATE TABLE moz_places (url TEXT)")
		}, store.ErrForeign, "moz_places"},
		{"newer schema", func(t *testing.T, path string) {
			MustClose(t, MustOpen(t, path, testOptions(t)))
			MustExec(t, MustRawDB(t, path), "PRAGMA user_version = 99")
		}, store.ErrNewerSchema, "99"},
		{"newer schema, closed", func(t *testing.T, path string) {
			MustClose(t, MustOpen(t, path, testOptions(t)))
			raw := MustRawDB(t, path)
			MustExec(t, raw, "PRAGMA user_version = 4")
			raw.Close()
		}, store.ErrNewerSchema, "version 4"},
		{"corrupt schema", func(t *testing.T, path string) {
			MustClose(t, MustOpen(t, path, testOptions(t)))
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Page 1 past the file header is sqlite_schema's b-tree page.
			if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", 400)), 100); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}, store.ErrCorrupt, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t)
			tc.make(t, path)
			before, files := MustHash(t, path), MustList(t, filepath.Dir(path))

			db, err := store.Open(path, testOptions(t))
			if err == nil {
				db.Close()
				t.Fatalf("Open() succeeded, want %v", tc.want)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open()=%v, want %v", err, tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tc.found) {
				t.Fatalf("Open()=%q, want it to name %s and %q", msg, path, tc.found)
			}
			if MustHash(t, path) != before {
				t.Fatalf("Open() changed the refused file")
			}
			if got := MustList(t, filepath.Dir(path)); !slices.Equal(got, files) {
				t.Fatalf("files after Open()=%v, want %v", got, files)
			}
		})
	}
}

func writeFile(s string) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDB_IntegrityCheck(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		db := MustOpen(t, tempPath(t), testOptions(t))
		db.Append([]store.Change{num(1, t0, "sensor.a", "value", 1, "")})
		MustFlush(t, db)
		if err := db.IntegrityCheck(context.Background()); err != nil {
			t.Fatalf("IntegrityCheck()=%v, want nil", err)
		}
	})

	t.Run("damaged page", func(t *testing.T) {
		path := tempPath(t)
		db := MustOpen(t, path, testOptions(t))
		var cs []store.Change
		for i := range 2000 {
			cs = append(cs, num(uint64(i+1), t0, "sensor.a", "value", float64(i), ""))
		}
		db.Append(cs)
		MustClose(t, db)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		// A page in the middle is one of history's older leaves, which
		// nothing reads at Open.
		if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", 4096)), fi.Size()/4096/2*4096); err != nil {
			t.Fatal(err)
		}
		f.Close()
		db, err = store.Open(path, testOptions(t))
		if err != nil {
			t.Fatalf("Open()=%v; the damage is past the schema, want the open to succeed", err)
		}
		defer db.Close()
		if err := db.IntegrityCheck(context.Background()); !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("IntegrityCheck()=%v, want ErrCorrupt", err)
		}
	})
}

func TestDB_Open_locked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearth.db")
	db := MustOpen(t, path, testOptions(t))
	_, err := store.Open(path, testOptions(t))
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open()=%v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name the file", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := store.Open(path, testOptions(t))
	if err != nil {
		t.Fatalf("Open() after Close()=%v", err)
	}
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
}
