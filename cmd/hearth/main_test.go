package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/daemon"
)

// startDaemon runs a real hearthd in this process on a socket in a temp dir.
func startDaemon(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.StateDir = dir
	cfg.API.Socket = filepath.Join(dir, "hearthd.sock")
	cfg.Log.Level = "error"
	min, max := 5.0, 25.0
	cfg.Virtual = []daemon.VirtualConfig{
		{ID: "number.away_temperature", Name: "Away temperature", Min: &min, Max: &max, Step: 0.5, Unit: "°C", Initial: 16.0},
		{ID: "select.house_mode", Options: []string{"home", "away"}},
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	d, err := daemon.New(cfg, io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, func() { close(ready) }) }()
	<-ready
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
		if err := d.Close(); err != nil {
			tb.Error(err)
		}
	})
	return cfg.API.Socket
}

func hearth(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRun_ExitCodes(t *testing.T) {
	sock := startDaemon(t)
	missing := filepath.Join(t.TempDir(), "nobody.sock")
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // substring of stdout
		err  string // substring of stderr
	}{
		{"status", []string{"--socket", sock, "status"}, exitOK, "entities", ""},
		{"ls", []string{"ls", "--socket", sock}, exitOK, "number.away_temperature", ""},
		{"get", []string{"--socket=" + sock, "get", "number.away_temperature"}, exitOK, "5..25 step 0.5 °C, writable", ""},
		{"set", []string{"--socket", sock, "set", "number.away_temperature", "value=19"}, exitOK, "value = 19 °C", ""},
		{"out of range", []string{"--socket", sock, "set", "number.away_temperature", "value=99"}, exitDaemon, "", `field "value"`},
		{"not a number", []string{"--socket", sock, "set", "number.away_temperature", "value=warm"}, exitDaemon, "", "want a number"},
		{"unknown entity", []string{"--socket", sock, "get", "lock.front_door"}, exitDaemon, "", "not_found"},
		{"unknown command", []string{"--socket", sock, "frobnicate"}, exitUsage, "", "unknown command"},
		{"no command", []string{"--socket", sock}, exitUsage, "", "usage"},
		{"bad pair", []string{"--socket", sock, "set", "number.away_temperature", "value"}, exitUsage, "", "NAME=VALUE"},
		{"bad id", []string{"--socket", sock, "get", "Front Door"}, exitUsage, "", "entity id"},
		{"bad since", []string{"--socket", sock, "history", "number.away_temperature", "--since", "yesterday"}, exitUsage, "", "--since"},
		{"unreachable", []string{"--socket", missing, "status"}, exitUnreachable, "", "unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := hearth(tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
				t.Fatalf("stdout %q want %q; stderr %q want %q", out, tc.out, errOut, tc.err)
			}
		})
	}
}

func TestRun_SocketFromEnvironment(t *testing.T) {
	sock := startDaemon(t)
	t.Setenv("HEARTH_SOCKET", sock)
	if code, out, errOut := hearth("ls"); code != exitOK || !strings.Contains(out, "select.house_mode") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestRun_JSON(t *testing.T) {
	sock := startDaemon(t)
	code, out, _ := hearth("--socket", sock, "--json", "set", "select.house_mode", "value=away", "--wait")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var resp struct {
		Committed bool  `json:"committed"`
		AuditID   int64 `json:"audit_id"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if !resp.Committed || resp.AuditID == 0 {
		t.Fatalf("response %+v, want committed with an audit id", resp)
	}
	code, out, _ = hearth("--socket", sock, "audit", "--json")
	if code != exitOK || !strings.Contains(out, `"outcome": "ok"`) {
		t.Fatalf("audit --json: exit %d\n%s", code, out)
	}
	code, out, _ = hearth("--socket", sock, "history", "select.house_mode")
	if code != exitOK || !strings.Contains(out, "away") {
		t.Fatalf("history: exit %d\n%s", code, out)
	}
}

func TestRun_Watch(t *testing.T) {
	sock := startDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--socket", sock, "watch", "number.away_temperature"}, pw, io.Discard)
		pw.Close()
	}()
	// Set until the watcher shows the change: the stream may not be
	// subscribed yet when the first set lands.
	lines := make(chan string)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				lines <- string(buf[:n])
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	v := 6
	for {
		if code, _, errOut := hearth("--socket", sock, "set", "number.away_temperature", "value="+itoa(v)); code != exitOK {
			t.Fatalf("set: %s", errOut)
		}
		select {
		case l := <-lines:
			if !strings.Contains(l, "number.away_temperature") || !strings.Contains(l, "-> "+itoa(v)+" °C") || !strings.Contains(l, "owner via api") {
				t.Fatalf("watch printed %q", l)
			}
			cancel()
			if code := <-done; code != exitOK {
				t.Fatalf("watch exit %d after Ctrl-C, want 0", code)
			}
			return
		case <-time.After(200 * time.Millisecond):
			v++
			if v > 25 {
				t.Fatal("watch printed nothing")
			}
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestRun_MQTTACL(t *testing.T) {
	sock := startDaemon(t)
	if code, _, errOut := hearth("--socket", sock, "mqtt", "user", "add", "zb"); code != exitOK {
		t.Fatalf("mqtt user add: exit %d: %s", code, errOut)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string // lines of stdout, each a run of words separated by any spaces
		err  string   // substring of stderr
	}{
		{"show", []string{"mqtt", "acl", "zb"}, exitOK, []string{"mqtt user zb (device)", "hearth/+/+/state r role device", "devices/zb/# rw role device"}, ""},
		{"add both", []string{"mqtt", "acl", "zb", "--add", "zigbee2mqtt/#"}, exitOK, []string{"zigbee2mqtt/# rw own"}, ""},
		{"change to read", []string{"mqtt", "acl", "zb", "--add", "zigbee2mqtt/#", "--read"}, exitOK, []string{"zigbee2mqtt/# r own"}, ""},
		{"add write", []string{"mqtt", "acl", "--add", "tasmota/plug/#", "zb", "--write"}, exitOK, []string{"zigbee2mqtt/# r own", "tasmota/plug/# w own"}, ""},
		{"device sets", []string{"mqtt", "acl", "zb", "--add", "hearth/#", "--write"}, exitDaemon, nil, "command topics"},
		{"bad filter", []string{"mqtt", "acl", "zb", "--add", "a/#/b"}, exitDaemon, nil, "'#' must be a whole level"},
		{"rm", []string{"mqtt", "acl", "zb", "--rm", "zigbee2mqtt/#"}, exitOK, []string{"tasmota/plug/# w own"}, ""},
		{"rm again", []string{"mqtt", "acl", "zb", "--rm", "zigbee2mqtt/#"}, exitDaemon, nil, "no filter"},
		{"unknown user", []string{"mqtt", "acl", "nobody"}, exitDaemon, nil, `no mqtt user "nobody"`},
		{"add and rm", []string{"mqtt", "acl", "zb", "--add", "a", "--rm", "b"}, exitUsage, nil, "--add and --rm"},
		{"read alone", []string{"mqtt", "acl", "zb", "--read"}, exitUsage, nil, "go with --add"},
		{"acl flag on user", []string{"mqtt", "user", "ls", "--add", "a"}, exitUsage, nil, "mqtt acl NAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := hearth(append([]string{"--socket", sock}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.err) {
				t.Fatalf("exit %d stderr %q; want exit %d and %q", code, errOut, tc.code, tc.err)
			}
			got := map[string]bool{}
			for _, l := range strings.Split(out, "\n") {
				got[strings.Join(strings.Fields(l), " ")] = true
			}
			for _, want := range tc.out {
				if !got[want] {
					t.Errorf("stdout lacks the line %q:\n%s", want, out)
				}
			}
		})
	}
	// The second rm above failed because the first worked: the filter is gone.
	_, out, _ := hearth("--socket", sock, "mqtt", "acl", "zb")
	if strings.Contains(out, "zigbee2mqtt") {
		t.Fatalf("zigbee2mqtt/# still listed after --rm:\n%s", out)
	}
}
