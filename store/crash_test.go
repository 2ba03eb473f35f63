package store_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/store"
)

const crashHelperEnv = "HEARTH_STORE_CRASH_HELPER"

const crashEntities = 10

// TestHelperProcessCrash is the child of TestDB_Append_SIGKILL: it appends
// changes as fast as it can, seq n carrying value n, and prints every
// committed seq until it is killed.
func TestHelperProcessCrash(t *testing.T) {
	path := os.Getenv(crashHelperEnv)
	if path == "" {
		t.Skip("helper process for TestDB_Append_SIGKILL")
	}
	opts := store.DefaultOptions()
	opts.BatchInterval = 5 * time.Millisecond
	opts.BatchSize = 200
	opts.CompactEvery = 0
	opts.Logger = quietLogger()
	db, err := store.Open(path, opts)
	if err != nil {
		fmt.Printf("open: %v\n", err)
		os.Exit(3)
	}
	go func() {
		var last uint64
		for {
			if c := db.Committed(); c > last {
				fmt.Printf("committed %d\n", c)
				last = c
			}
			time.Sleep(time.Millisecond)
		}
	}()
	ctx := context.Background()
	for seq := db.Committed() + 1; ; seq++ {
		e := fmt.Sprintf("sensor.s%d", seq%crashEntities)
		db.Append([]store.Change{num(seq, time.Now(), e, "value", float64(seq), "")})
		if seq%997 == 0 {
			// Durable audit commits (synchronous=FULL) are killed too.
			_ = db.Audit(ctx, &store.AuditRow{Principal: "owner", Entity: e, Action: "poke",
				Args: "{}", Outcome: strconv.FormatUint(seq, 10)}, true)
		}
	}
}

// TestDB_Append_SIGKILL kills a writing child at random moments and checks
// that the file is sound and holds every seq the child saw committed.
func TestDB_Append_SIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "hearth.db")
	for round := range 4 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			reported := runAndKill(t, path, time.Duration(10+rand.IntN(400))*time.Millisecond)
			if reported == 0 {
				t.Fatalf("the child reported no commit")
			}
			db := MustOpen(t, path, testOptions(t))
			ctx := context.Background()
			if err := db.IntegrityCheck(ctx); err != nil {
				t.Fatalf("IntegrityCheck()=%v", err)
			}
			if got := db.Committed(); got < reported {
				t.Fatalf("Committed()=%d, want >= %d reported before the kill", got, reported)
			}
			seen := make(map[uint64]bool)
			for i := range crashEntities {
				ss := MustHistory(t, db, store.HistoryQuery{Entity: fmt.Sprintf("sensor.s%d", i), Limit: 1 << 30})
				for _, s := range ss {
					for _, p := range s.Points {
						seen[uint64(p.Value.Num)] = true
					}
				}
			}
			for seq := uint64(1); seq <= reported; seq++ {
				if !seen[seq] {
					t.Fatalf("seq %d was reported committed (up to %d) but is not in the history", seq, reported)
				}
			}
			state, err := db.LoadState(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range state {
				if uint64(c.Value.Num) != c.Seq {
					t.Fatalf("state %s=%v at seq %d: a value from another change", c.Entity, c.Value.Num, c.Seq)
				}
				if c.Seq+crashEntities <= reported {
					t.Fatalf("state %s at seq %d, want a later seq (committed up to %d)", c.Entity, c.Seq, reported)
				}
			}
			t.Logf("killed after %d committed seqs reported; Committed()=%d, %d seqs in the file", reported, db.Committed(), len(seen))
			MustClose(t, db)
		})
	}
}

// runAndKill starts the child, kills it with SIGKILL after it has reported a
// first commit and wait has passed, and returns the highest seq it reported.
func runAndKill(t *testing.T, path string, wait time.Duration) uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var reported atomic.Uint64
	first := make(chan struct{})
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			n, ok := strings.CutPrefix(sc.Text(), "committed ")
			if !ok {
				t.Logf("child: %s", sc.Text())
				continue
			}
			v, _ := strconv.ParseUint(n, 10, 64)
			if reported.Swap(v) == 0 {
				close(first)
			}
		}
	}()
	select {
	case <-first:
	case <-eof:
		cmd.Wait()
		t.Fatalf("child exited before reporting a commit")
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("child reported no commit")
	}
	time.Sleep(wait)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-eof // everything it printed before dying
	_ = cmd.Wait()
	return reported.Load()
}
