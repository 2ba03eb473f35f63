package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/hub"
)

func ptr[T any](v T) *T { return &v }

// testConfig is a config in a fresh directory with one helper of each kind.
func testConfig(tb testing.TB) *Config {
	tb.Helper()
	dir := tb.TempDir()
	cfg := DefaultConfig()
	cfg.StateDir = dir
	cfg.API.Socket = filepath.Join(dir, "hearthd.sock")
	cfg.Log.Level = "warn"
	cfg.Store.BatchInterval = Duration(20 * time.Millisecond)
	cfg.Virtual = []VirtualConfig{
		{ID: "number.away_temperature", Name: "Away temperature", Min: ptr(5.0), Max: ptr(25.0), Step: 0.5, Unit: "°C", Initial: 16.0},
		{ID: "boolean.guest_mode"},
		{ID: "select.house_mode", Options: []string{"home", "away", "night"}},
		{ID: "text.note"},
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatalf("Validate()=%v", err)
	}
	return cfg
}

// running is a daemon serving in this process.
type running struct {
	d      *Daemon
	client *api.Client
	stop   func() error
}

// MustStart starts a daemon on cfg and stops it at the end of the test.
func MustStart(tb testing.TB, cfg *Config) *running {
	tb.Helper()
	d, err := New(cfg, io.Discard)
	if err != nil {
		tb.Fatalf("New()=%v", err)
	}
	stopServe := startServe(tb, d)
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			stopServe()
			stopErr = d.Close()
		})
		return stopErr
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("stop: %v", err)
		}
	})
	return &running{d: d, client: api.NewUnix(cfg.API.Socket), stop: stop}
}

func mustCommand(tb testing.TB, c *api.Client, req api.CommandRequest) *api.CommandResponse {
	tb.Helper()
	resp, err := c.Command(context.Background(), req)
	if err != nil {
		tb.Fatalf("Command(%+v)=%v", req, err)
	}
	return resp
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func apiErr(tb testing.TB, err error) *api.Error {
	tb.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) {
		tb.Fatalf("err=%v (%T), want *api.Error", err, err)
	}
	return ae
}

func TestServer_Entities(t *testing.T) {
	r := MustStart(t, testConfig(t))
	ctx := context.Background()

	all, err := r.client.Entities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(all), 4; got != want {
		t.Fatalf("len(Entities())=%d, want %d", got, want)
	}
	e, err := r.client.Entity(ctx, "number.away_temperature")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Attrs["value"].String(), "16 °C"; got != want {
		t.Fatalf("value=%q, want %q", got, want)
	}
	if got, want := e.Name, "Away temperature"; got != want {
		t.Fatalf("Name=%q, want %q", got, want)
	}

	t.Run("unknown entity is a JSON 404", func(t *testing.T) {
		_, err := r.client.Entity(ctx, "number.nope")
		ae := apiErr(t, err)
		if ae.Status != http.StatusNotFound || ae.Code != api.CodeNotFound || ae.Entity != "number.nope" {
			t.Fatalf("err=%+v, want 404 not_found for number.nope", ae)
		}
	})
	t.Run("unknown path and wrong method are JSON", func(t *testing.T) {
		hc := unixHTTP(r.d.Config().API.Socket)
		for _, tc := range []struct {
			method, path string
			status       int
			code         string
		}{
			{"GET", "/v2/whatever", 404, api.CodeNotFound},
			{"DELETE", "/v1/entities", 405, api.CodeMethod},
			{"GET", "/v1/commands", 405, api.CodeMethod},
		} {
			req, _ := http.NewRequest(tc.method, "http://hearthd"+tc.path, nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body api.ErrorBody
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil || body.Error == nil {
				t.Fatalf("%s %s: body is not a JSON error: %v", tc.method, tc.path, err)
			}
			if resp.StatusCode != tc.status || body.Error.Code != tc.code {
				t.Fatalf("%s %s: %d %s, want %d %s", tc.method, tc.path, resp.StatusCode, body.Error.Code, tc.status, tc.code)
			}
		}
	})
}

func unixHTTP(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}
}

func TestServer_Command(t *testing.T) {
	r := MustStart(t, testConfig(t))
	ctx := context.Background()

	resp := mustCommand(t, r.client, api.CommandRequest{Entity: "number.away_temperature", Action: "set", Args: map[string]json.RawMessage{"value": raw("18.5")}})
	if got, want := resp.State.Attrs["value"].String(), "18.5 °C"; got != want {
		t.Fatalf("state after set=%q, want %q", got, want)
	}
	if resp.AuditID == 0 || resp.Seq == 0 {
		t.Fatalf("response %+v lacks audit id or seq", resp)
	}

	for _, tc := range []struct {
		name   string
		req    api.CommandRequest
		status int
		code   string
		field  string
	}{
		{"string for a number", api.CommandRequest{Entity: "number.away_temperature", Action: "set", Args: map[string]json.RawMessage{"value": raw(`"warm"`)}}, 400, api.CodeInvalid, "value"},
		{"above the maximum", api.CommandRequest{Entity: "number.away_temperature", Action: "set", Args: map[string]json.RawMessage{"value": raw("40")}}, 400, api.CodeInvalid, "value"},
		{"not an option", api.CommandRequest{Entity: "select.house_mode", Action: "set", Args: map[string]json.RawMessage{"value": raw(`"party"`)}}, 400, api.CodeInvalid, "value"},
		{"number for a bool", api.CommandRequest{Entity: "boolean.guest_mode", Action: "set", Args: map[string]json.RawMessage{"value": raw("1")}}, 400, api.CodeInvalid, "value"},
		{"unknown attribute", api.CommandRequest{Entity: "boolean.guest_mode", Action: "set", Args: map[string]json.RawMessage{"colour": raw(`"red"`)}}, 400, api.CodeInvalid, "colour"},
		{"set with nothing", api.CommandRequest{Entity: "boolean.guest_mode", Action: "set"}, 400, api.CodeInvalid, ""},
		{"unknown action", api.CommandRequest{Entity: "boolean.guest_mode", Action: "explode"}, 400, api.CodeUnknownAction, "action"},
		{"unknown entity", api.CommandRequest{Entity: "lock.front_door", Action: "lock"}, 404, api.CodeNotFound, ""},
		{"bad entity id", api.CommandRequest{Entity: "Front Door", Action: "lock"}, 400, api.CodeInvalid, "entity"},
		{"bad wait", api.CommandRequest{Entity: "boolean.guest_mode", Action: "set", Args: map[string]json.RawMessage{"value": raw("true")}, Wait: "forever"}, 400, api.CodeInvalid, "wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.client.Command(ctx, tc.req)
			ae := apiErr(t, err)
			if ae.Status != tc.status || ae.Code != tc.code || ae.Field != tc.field {
				t.Fatalf("err=%+v, want %d %s field %q", ae, tc.status, tc.code, tc.field)
			}
			if ae.Message == "" {
				t.Fatal("error without a message")
			}
		})
	}
	t.Run("malformed body", func(t *testing.T) {
		hc := unixHTTP(r.d.Config().API.Socket)
		for _, body := range []string{`{"entity":`, `{"entity":"boolean.guest_mode","action":"set","bogus":1}`, `[]`} {
			resp, err := hc.Post("http://hearthd/v1/commands", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var eb api.ErrorBody
			_ = json.NewDecoder(resp.Body).Decode(&eb)
			resp.Body.Close()
			if resp.StatusCode != 400 || eb.Error == nil || eb.Error.Code != api.CodeBadRequest {
				t.Fatalf("body %s: %d %+v, want 400 bad_request", body, resp.StatusCode, eb.Error)
			}
		}
	})
	t.Run("state unchanged by refused commands", func(t *testing.T) {
		e, err := r.client.Entity(ctx, "number.away_temperature")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := e.Attrs["value"].String(), "18.5 °C"; got != want {
			t.Fatalf("value=%q, want %q", got, want)
		}
	})
	t.Run("audit has every command with its outcome", func(t *testing.T) {
		if err := r.d.Store().Flush(ctx); err != nil {
			t.Fatal(err)
		}
		recs, err := r.client.Audit(ctx, api.AuditQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		outcomes := map[string]int{}
		for _, rec := range recs {
			outcomes[rec.Outcome]++
			if rec.Principal != "owner" || rec.Source != "api" {
				t.Fatalf("record %+v: want principal owner, source api", rec)
			}
		}
		// The bad entity id and the bad wait never reach the hub.
		if got, want := outcomes["ok"], 1; got != want {
			t.Fatalf("ok records=%d, want %d (%v)", got, want, outcomes)
		}
		if got, want := outcomes["rejected"], 8; got != want {
			t.Fatalf("rejected records=%d, want %d (%v)", got, want, outcomes)
		}
	})
}

func TestServer_WaitCommit(t *testing.T) {
	cfg := testConfig(t)
	cfg.Store.BatchInterval = Duration(time.Minute) // only the wait can make it commit
	r := MustStart(t, cfg)
	ctx := context.Background()
	resp := mustCommand(t, r.client, api.CommandRequest{Entity: "select.house_mode", Action: "set", Args: map[string]json.RawMessage{"value": raw(`"night"`)}, Wait: api.WaitCommit})
	if !resp.Committed {
		t.Fatal("Committed=false with wait=commit")
	}
	if got := r.d.Store().Committed(); got < resp.Seq {
		t.Fatalf("store Committed()=%d, want >= %d", got, resp.Seq)
	}
	state, err := r.d.Store().LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range state {
		if c.Entity == "select.house_mode" && c.Value.Text == "night" {
			found = true
		}
	}
	if !found {
		t.Fatalf("committed state %+v lacks select.house_mode=night", state)
	}
	recs, err := r.d.Store().QueryAudit(ctx, storeAuditQuery("select.house_mode"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != resp.AuditID || recs[0].Outcome != "ok" {
		t.Fatalf("audit=%+v, want one ok row with id %d", recs, resp.AuditID)
	}
}

func TestServer_HistoryAndEvents(t *testing.T) {
	r := MustStart(t, testConfig(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	got := make(chan hub.Event, 16)
	watching := make(chan error, 1)
	go func() {
		watching <- r.client.Watch(ctx, []string{"number.away_temperature"}, func(ev hub.Event) error {
			got <- ev
			return nil
		}, nil)
	}()
	// The stream subscribes before it answers; wait until it is there.
	waitFor(t, func() bool {
		for _, s := range r.d.Hub().Bus().Stats() {
			if s.Name == "api-stream" {
				return true
			}
		}
		return false
	})
	for _, v := range []string{"17", "19.5", "21"} {
		mustCommand(t, r.client, api.CommandRequest{Entity: "number.away_temperature", Action: "set", Args: map[string]json.RawMessage{"value": raw(v)}, Wait: api.WaitCommit})
		mustCommand(t, r.client, api.CommandRequest{Entity: "boolean.guest_mode", Action: "set", Args: map[string]json.RawMessage{"value": raw("true")}})
	}
	var seen []string
	for len(seen) < 3 {
		select {
		case ev := <-got:
			if ev.Entity != "number.away_temperature" {
				t.Fatalf("filtered stream gave %s", ev.Entity)
			}
			if ev.Cause != hub.Owner || ev.Source != "api" {
				t.Fatalf("event cause %q source %q, want owner api", ev.Cause, ev.Source)
			}
			seen = append(seen, ev.Changes[0].New.String())
		case err := <-watching:
			t.Fatalf("Watch ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("events seen %v, want 3", seen)
		}
	}
	if got, want := strings.Join(seen, ","), "17 °C,19.5 °C,21 °C"; got != want {
		t.Fatalf("events=%s, want %s", got, want)
	}

	h, err := r.client.History(ctx, "number.away_temperature", api.HistoryQuery{Since: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Series) != 1 {
		t.Fatalf("series=%+v, want one", h.Series)
	}
	var vals []string
	for _, p := range h.Series[0].Points {
		b, _ := json.Marshal(p.Value)
		vals = append(vals, string(b))
	}
	if got, want := strings.Join(vals, ","), "17,19.5,21"; got != want {
		t.Fatalf("history=%s, want %s", got, want)
	}
	_, err = r.client.History(ctx, "number.away_temperature", api.HistoryQuery{Step: time.Millisecond})
	if ae := apiErr(t, err); ae.Field != "step" {
		t.Fatalf("step 1ms: %+v, want an error on step", ae)
	}
}

func TestServer_TCPToken(t *testing.T) {
	cfg := testConfig(t)
	cfg.API.TCP = "127.0.0.1:0"
	cfg.API.TokenFile = filepath.Join(cfg.StateDir, "token")
	r := MustStart(t, cfg)
	addr := r.d.Addr(1).String()
	b, err := os.ReadFile(cfg.API.TokenFile)
	if err != nil {
		t.Fatalf("token file not created: %v", err)
	}
	if fi, _ := os.Stat(cfg.API.TokenFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	ctx := context.Background()

	_, err = api.NewTCP(addr, "wrong-token-wrong-token").Health(ctx)
	if ae := apiErr(t, err); ae.Status != 401 || ae.Code != api.CodeUnauthorized {
		t.Fatalf("wrong token: %+v, want 401", ae)
	}
	c := api.NewTCP(addr, strings.TrimSpace(string(b)))
	h, err := c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "ok" || h.Entities != 4 {
		t.Fatalf("health=%+v", h)
	}

	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(b)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"hearth_bus_events_published_total", "hearth_store_commits_total", "hearth_api_requests_total", `hearth_bus_queue_limit{subscriber="store"}`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Fatalf("metrics lack %s", want)
		}
	}
}

func TestServer_SocketMode(t *testing.T) {
	cfg := testConfig(t)
	r := MustStart(t, cfg)
	fi, err := os.Stat(cfg.API.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o660); got != want {
		t.Fatalf("socket mode=%v, want %v", got, want)
	}
	// A second daemon on the same socket is refused, and the first keeps it.
	_, err = listenUnix(cfg.API.Socket, 0o660)
	if err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Fatalf("listenUnix on a live socket=%v, want 'already listening'", err)
	}
	if _, err := r.client.Health(context.Background()); err != nil {
		t.Fatalf("first daemon lost its socket: %v", err)
	}
}

func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
