package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/hearth-hub/hearth/daemon/api"
)

// hearthdBin is the daemon built once for these tests: they run it as a
// real child process, the way systemd does.
var hearthdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hearthd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hearthdBin = filepath.Join(dir, "hearthd")
	out, err := exec.Command("go", "build", "-o", hearthdBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// child is a hearthd process.
type child struct {
	cmd    *exec.Cmd
	socket string
	logs   *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeConfig writes a config for a daemon living in dir.
func writeConfig(tb testing.TB, dir, extra string) string {
	tb.Helper()
	cfg := fmt.Sprintf("state_dir: %s\napi:\n  socket: %s\nlog:\n  level: info\n%s", dir, filepath.Join(dir, "hearthd.sock"), extra)
	path := filepath.Join(dir, "hearthd.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// startChild starts hearthd and waits until its API answers.
func startChild(tb testing.TB, config string) *child {
	tb.Helper()
	dir := filepath.Dir(config)
	c := &child{cmd: exec.Command(hearthdBin, "--config", config), socket: filepath.Join(dir, "hearthd.sock"), logs: &syncBuffer{}, done: make(chan error, 1)}
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	tb.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	cl := api.NewUnix(c.socket)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := cl.Health(context.Background()); err == nil {
			return c
		}
		select {
		case err := <-c.done:
			tb.Fatalf("hearthd exited before it was ready: %v\n%s", err, c.logs)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("hearthd not ready after 30s\n%s", c.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *child) wait(tb testing.TB) error {
	tb.Helper()
	select {
	case err := <-c.done:
		return err
	case <-time.After(30 * time.Second):
		tb.Fatalf("hearthd did not exit\n%s", c.logs)
		return nil
	}
}

// ack is a command the daemon acknowledged.
type ack struct {
	entity  string
	value   int
	seq     uint64
	auditID int64
	durable bool // the response itself said committed
}

// TestHearthd_SIGKILLMidLoad drives a sustained write load through the API,
// SIGKILLs the daemon in the middle of it, restarts it and proves that
// nothing acknowledged as committed was lost and the file is sound.
func TestHearthd_SIGKILLMidLoad(t *testing.T) {
	const entities = 8
	dir := t.TempDir()
	var helpers strings.Builder
	helpers.WriteString("store:\n  batch_interval: 200ms\nvirtual:\n")
	for i := range entities {
		fmt.Fprintf(&helpers, "  - id: number.load_%d\n    min: 0\n    max: 1000000000\n", i)
	}
	config := writeConfig(t, dir, helpers.String())
	c := startChild(t, config)
	cl := api.NewUnix(c.socket)

	var (
		mu        sync.Mutex
		acks      []ack
		committed atomic.Uint64 // the highest committed seq the daemon has reported
		next      atomic.Int64
		stop      atomic.Bool
		wg        sync.WaitGroup
	)
	ctx := context.Background()
	// Writers: most commands return once applied; every tenth waits for the commit.
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				v := int(next.Add(1))
				e := fmt.Sprintf("number.load_%d", (v+w)%entities)
				req := api.CommandRequest{Entity: e, Action: "set", Args: map[string]json.RawMessage{"value": json.RawMessage(fmt.Sprint(v))}}
				if i%10 == 0 {
					req.Wait = api.WaitCommit
				}
				resp, err := cl.Command(ctx, req)
				if err != nil {
					if errors.Is(err, api.ErrUnreachable) {
						return // killed
					}
					t.Errorf("command %s=%d: %v", e, v, err)
					return
				}
				mu.Lock()
				acks = append(acks, ack{entity: e, value: v, seq: resp.Seq, auditID: resp.AuditID, durable: resp.Committed})
				mu.Unlock()
			}
		}()
	}
	// A watcher of health: a change whose seq is at or below a committed seq
	// the daemon reported is acknowledged as committed too.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			h, err := cl.Health(ctx)
			if err != nil {
				return
			}
			if h.Store.Committed > committed.Load() {
				committed.Store(h.Store.Committed)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// Kill at a random moment once the load is well under way.
	time.Sleep(time.Duration(1500+rand.IntN(1500)) * time.Millisecond)
	mu.Lock()
	before := len(acks)
	mu.Unlock()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := c.wait(t)
	stop.Store(true)
	wg.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("hearthd ended with %v, want killed by SIGKILL", err)
	}
	if before < 200 {
		t.Fatalf("only %d commands acknowledged before the kill: not a sustained load", before)
	}

	var mustHave []ack
	lastCommitted := committed.Load()
	for _, a := range acks {
		if a.durable || a.seq <= lastCommitted {
			mustHave = append(mustHave, a)
		}
	}
	t.Logf("%d commands acknowledged, %d of them as committed (committed seq %d)", len(acks), len(mustHave), lastCommitted)
	if len(mustHave) == 0 {
		t.Fatal("nothing was acknowledged as committed before the kill")
	}

	c2 := startChild(t, config)
	cl2 := api.NewUnix(c2.socket)

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "hearth.db")+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check=%q, %v", integrity, err)
	}

	history := map[string]map[int]bool{}
	audit := map[string]map[int64]api.AuditEntry{}
	for i := range entities {
		e := fmt.Sprintf("number.load_%d", i)
		h, err := cl2.History(ctx, e, api.HistoryQuery{Since: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		history[e] = map[int]bool{}
		var last int
		for _, s := range h.Series {
			for _, p := range s.Points {
				if f, ok := p.Value.(float64); ok {
					history[e][int(f)] = true
					last = int(f)
				}
			}
		}
		// The state the daemon restored is the last value history has.
		snap, err := cl2.Entity(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := snap.Attrs["value"].Float(); len(history[e]) > 0 && int(f) != last {
			t.Fatalf("%s restored as %v, but history ends at %d", e, f, last)
		}
		recs, err := cl2.Audit(ctx, api.AuditQuery{Entity: e, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		audit[e] = map[int64]api.AuditEntry{}
		for _, r := range recs {
			audit[e][r.ID] = r
		}
	}
	for _, a := range mustHave {
		if !history[a.entity][a.value] {
			t.Errorf("%s=%d (seq %d) was acknowledged as committed but is not in history", a.entity, a.value, a.seq)
		}
		r, ok := audit[a.entity][a.auditID]
		if !ok {
			t.Errorf("%s=%d: audit row %d missing", a.entity, a.value, a.auditID)
			continue
		}
		var args bytes.Buffer
		_ = json.Compact(&args, r.Args)
		if r.Outcome != "ok" || r.Principal != "owner" || args.String() != fmt.Sprintf(`{"value":%d}`, a.value) {
			t.Errorf("audit row %d = %+v, want ok by owner with value %d", a.auditID, r, a.value)
		}
	}
	// The restarted daemon continues the sequence and works.
	resp, err := cl2.Command(ctx, api.CommandRequest{Entity: "number.load_0", Action: "set", Args: map[string]json.RawMessage{"value": json.RawMessage("7")}, Wait: api.WaitCommit})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Seq <= lastCommitted {
		t.Fatalf("seq after restart %d, want > %d", resp.Seq, lastCommitted)
	}
	if err := c2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c2.wait(t); err != nil {
		t.Fatalf("SIGTERM: exit %v, want 0\n%s", err, c2.logs)
	}
}

func TestHearthd_Signals(t *testing.T) {
	dir := t.TempDir()
	config := writeConfig(t, dir, "virtual:\n  - id: boolean.guest_mode\n")
	c := startChild(t, config)
	cl := api.NewUnix(c.socket)
	ctx := context.Background()

	// SIGHUP with a broken config: rejected with its line, and the daemon keeps going.
	if err := os.WriteFile(config, []byte("state_dir: "+dir+"\napi:\n  socket: "+c.socket+"\nvirtual:\n  - id: boolean.guest_mode\n    colour: red\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, c, "config reload rejected")
	if !strings.Contains(c.logs.String(), "hearthd.yaml:6") {
		t.Fatalf("rejection does not name the line:\n%s", c.logs)
	}
	if _, err := cl.Entity(ctx, "boolean.guest_mode"); err != nil {
		t.Fatalf("after a rejected reload: %v", err)
	}

	// SIGHUP with a good config adds a helper.
	writeConfig(t, dir, "virtual:\n  - id: boolean.guest_mode\n  - id: text.note\n")
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, c, "config reloaded")
	if _, err := cl.Entity(ctx, "text.note"); err != nil {
		t.Fatalf("after a good reload: %v", err)
	}

	// SIGTERM stops cleanly with exit 0 and removes the socket.
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.wait(t); err != nil {
		t.Fatalf("exit %v, want 0\n%s", err, c.logs)
	}
	if _, err := os.Stat(c.socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func waitLog(tb testing.TB, c *child, s string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.logs.String(), s) {
		if time.Now().After(deadline) {
			tb.Fatalf("log never said %q:\n%s", s, c.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHearthd_CheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, dir, "")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("store:\n  batch_size: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--check-config", good}, 0, "ok"},
		{[]string{"--check-config", bad}, 1, "bad.yaml:2:3: store.batch_size"},
		{[]string{"--check-config", filepath.Join(dir, "missing.yaml")}, 1, "missing.yaml"},
		{[]string{"--bogus"}, 2, ""},
		{[]string{"--version"}, 0, "hearthd"},
		// This machine has no I2C buses or GPIO lines: listing them still succeeds.
		{[]string{"--list-hardware"}, 0, "GPIO lines:"},
	} {
		out, err := exec.Command(hearthdBin, tc.args...).CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(string(out), tc.out) {
			t.Fatalf("hearthd %v: exit %d, output %q; want %d and %q", tc.args, code, out, tc.code, tc.out)
		}
	}
}
