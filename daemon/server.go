package daemon

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/hub"
	"github.com/hearth-hub/hearth/store"
)

// server is the local API. On the unix socket the peer is the owner (the
// socket's mode and group decide who may connect); on TCP the bearer
// token stands for the owner.
type server struct {
	d       *Daemon
	log     *slog.Logger
	streams context.Context // cancelled when the server shuts down, ending event streams
}

// commitWait bounds how long a command waits for the store.
const commitWait = 10 * time.Second

func (s *server) handler(token string) http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, method string, stream bool, h http.HandlerFunc) {
		mux.HandleFunc(pattern, s.d.metrics.instrument(pattern, stream, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
				w.Header().Set("Allow", method)
				writeError(w, &api.Error{Status: http.StatusMethodNotAllowed, Code: api.CodeMethod, Message: fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method)})
				return
			}
			h(w, r)
		}))
	}
	route("/v1/health", http.MethodGet, false, s.health)
	route("/v1/entities", http.MethodGet, false, s.entities)
	route("/v1/entities/{id}", http.MethodGet, false, s.entity)
	route("/v1/entities/{id}/history", http.MethodGet, false, s.history)
	route("/v1/commands", http.MethodPost, false, s.command)
	route("/v1/audit", http.MethodGet, false, s.audit)
	route("/v1/events", http.MethodGet, true, s.events)
	mux.HandleFunc("/v1/mqtt/users", s.d.metrics.instrument("/v1/mqtt/users", false, s.mqttUsers))
	route("/v1/mqtt/users/{name}", http.MethodDelete, false, s.mqttUser)
	mux.HandleFunc("/v1/mqtt/users/{name}/acl", s.d.metrics.instrument("/v1/mqtt/users/{name}/acl", false, s.mqttACL))
	mux.Handle("/metrics", s.d.metrics.handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: "no such path: " + r.URL.Path})
	})
	if token == "" {
		return mux
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hearthd"`)
			writeError(w, &api.Error{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized, Message: "a bearer token is required on the TCP API"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.d.Health())
}

func (s *server) entities(w http.ResponseWriter, r *http.Request) {
	all := s.d.hub.Entities()
	if kind := r.URL.Query().Get("kind"); kind != "" {
		kept := all[:0]
		for _, e := range all {
			if e.ID.Kind() == kind {
				kept = append(kept, e)
			}
		}
		all = kept
	}
	writeJSON(w, http.StatusOK, api.Entities{Entities: all})
}

func (s *server) lookup(w http.ResponseWriter, r *http.Request) (hub.ID, bool) {
	raw := r.PathValue("id")
	id, err := hub.ParseID(raw)
	if err != nil {
		writeError(w, &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Entity: raw, Message: err.Error()})
		return "", false
	}
	if _, ok := s.d.hub.Get(id); !ok {
		writeError(w, &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Entity: raw, Message: fmt.Sprintf("no entity %q", raw)})
		return "", false
	}
	return id, true
}

func (s *server) entity(w http.ResponseWriter, r *http.Request) {
	id, ok := s.lookup(w, r)
	if !ok {
		return
	}
	snap, _ := s.d.hub.Get(id)
	writeJSON(w, http.StatusOK, snap)
}

func (s *server) command(w http.ResponseWriter, r *http.Request) {
	var req api.CommandRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: "command body: " + err.Error()})
		return
	}
	if req.Wait != "" && req.Wait != api.WaitCommit {
		writeError(w, &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Field: "wait", Message: fmt.Sprintf("wait: want %q or nothing, got %q", api.WaitCommit, req.Wait)})
		return
	}
	id, err := hub.ParseID(req.Entity)
	if err != nil {
		writeError(w, &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Field: "entity", Message: err.Error()})
		return
	}
	cmd := hub.Command{Entity: id, Action: req.Action, Principal: hub.Owner, Source: "api"}
	res, err := s.d.hub.DoJSON(r.Context(), cmd, req.Args)
	if err != nil {
		writeError(w, commandError(id, err))
		return
	}
	out := api.CommandResponse{Entity: req.Entity, Action: req.Action, Seq: res.Seq, AuditID: res.AuditID, Duration: api.Duration(res.Duration)}
	if req.Wait == api.WaitCommit {
		ctx, cancel := context.WithTimeout(r.Context(), commitWait)
		defer cancel()
		// The audit row is already queued; once the recorder has handed the
		// command's events to the store too, one flush commits them all.
		err := s.d.rec.waitAppended(ctx, res.Seq)
		if err == nil {
			err = s.d.db.Flush(ctx)
		}
		if err != nil {
			writeError(w, &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeUnavailable, Entity: req.Entity, Message: "carried out, but not yet committed to the store: " + err.Error()})
			return
		}
		out.Committed = true
	}
	if snap, ok := s.d.hub.Get(id); ok {
		out.State = &snap
	}
	writeJSON(w, http.StatusOK, out)
}

// commandError maps the hub's errors to HTTP.
func commandError(id hub.ID, err error) *api.Error {
	e := &api.Error{Entity: string(id), Message: err.Error()}
	var ve *hub.ValidationError
	switch {
	case errors.As(err, &ve):
		e.Status, e.Code, e.Field = http.StatusBadRequest, api.CodeInvalid, ve.Field
	case errors.Is(err, hub.ErrUnknownEntity):
		e.Status, e.Code = http.StatusNotFound, api.CodeNotFound
	case errors.Is(err, hub.ErrUnknownAction):
		e.Status, e.Code, e.Field = http.StatusBadRequest, api.CodeUnknownAction, "action"
	case errors.Is(err, hub.ErrForbidden):
		e.Status, e.Code = http.StatusForbidden, api.CodeForbidden
	case errors.Is(err, hub.ErrUnavailable):
		e.Status, e.Code = http.StatusServiceUnavailable, api.CodeUnavailable
	default:
		e.Status, e.Code = http.StatusConflict, api.CodeFailed
	}
	return e
}

func (s *server) history(w http.ResponseWriter, r *http.Request) {
	id, ok := s.lookup(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	now := time.Now()
	since, err := durationParam(q.Get("since"), 24*time.Hour)
	if err != nil {
		writeError(w, badParam("since", err))
		return
	}
	from, to := now.Add(-since), now
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339Nano, v); err != nil {
			writeError(w, badParam("from", err))
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339Nano, v); err != nil {
			writeError(w, badParam("to", err))
			return
		}
	}
	step, err := durationParam(q.Get("step"), 0)
	if err == nil && step != 0 && step < time.Second {
		err = errors.New("must be at least 1s")
	}
	if err != nil {
		writeError(w, badParam("step", err))
		return
	}
	if !from.Before(to) {
		writeError(w, badParam("from", errors.New("must be before to")))
		return
	}
	series, err := s.d.db.History(r.Context(), store.HistoryQuery{Entity: string(id), Attr: q.Get("attr"), From: from, To: to, Step: step})
	if err != nil {
		writeError(w, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Entity: string(id), Message: "history: " + err.Error()})
		return
	}
	out := api.History{Entity: string(id), From: from, To: to, Step: api.Duration(step), Series: make([]api.Series, 0, len(series))}
	for _, sr := range series {
		out.Series = append(out.Series, toAPISeries(sr))
	}
	writeJSON(w, http.StatusOK, out)
}

func toAPISeries(sr store.Series) api.Series {
	out := api.Series{Attr: sr.Attr, Type: sr.Type, Unit: sr.Unit, Points: make([]api.Point, 0, len(sr.Points))}
	for _, p := range sr.Points {
		ap := api.Point{At: p.At, Count: p.Count}
		if v, ok := fromStoreValue(p.Value); ok {
			ap.Value = v.Native()
		}
		if p.Count > 1 || p.Min != p.Max {
			mn, mx := p.Min, p.Max
			if sr.Type == "number" || sr.Type == "bool" {
				ap.Value = p.Value.Num
				ap.Min, ap.Max = &mn, &mx
			}
		}
		out.Points = append(out.Points, ap)
	}
	return out
}

func (s *server) audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	aq := store.AuditQuery{Entity: q.Get("entity"), Principal: q.Get("principal")}
	if v := q.Get("since"); v != "" {
		d, err := durationParam(v, 0)
		if err != nil {
			writeError(w, badParam("since", err))
			return
		}
		aq.Since = time.Now().Add(-d)
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"before", &aq.BeforeID}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				writeError(w, badParam(p.name, fmt.Errorf("want a positive integer, got %q", v)))
				return
			}
			*p.dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, badParam("limit", fmt.Errorf("want 1 to 10000, got %q", v)))
			return
		}
		aq.Limit = n
	}
	rows, err := s.d.db.QueryAudit(r.Context(), aq)
	if err != nil {
		writeError(w, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: "audit: " + err.Error()})
		return
	}
	out := api.Audit{Records: make([]api.AuditEntry, 0, len(rows))}
	for _, row := range rows {
		out.Records = append(out.Records, fromAuditRow(row))
	}
	writeJSON(w, http.StatusOK, out)
}

// events streams state changes as server-sent events. A client too slow
// for its queue is told how many events it missed; it is never waited on.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: "streaming unsupported"})
		return
	}
	var filter func(*hub.Event) bool
	if ids := r.URL.Query()["entity"]; len(ids) > 0 {
		want := map[hub.ID]bool{}
		for _, raw := range ids {
			id, err := hub.ParseID(raw)
			if err != nil {
				writeError(w, badParam("entity", err))
				return
			}
			want[id] = true
		}
		filter = func(ev *hub.Event) bool { return want[ev.Entity] }
	}
	sub := s.d.hub.Bus().Subscribe("api-stream", 1024, filter)
	defer sub.Close()
	s.d.metrics.sse.Inc()
	defer s.d.metrics.sse.Dec()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": hearthd event stream\n\n"); err != nil {
		return
	}
	fl.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	var buf []hub.Event
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.streams.Done():
			return
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
		case <-sub.Ready():
			var dropped uint64
			buf, dropped = sub.Drain(buf)
			if dropped > 0 {
				b, _ := json.Marshal(api.Overflow{Dropped: dropped})
				if _, err := fmt.Fprintf(w, "event: overflow\ndata: %s\n\n", b); err != nil {
					return
				}
			}
			for i := range buf {
				b, err := json.Marshal(&buf[i])
				if err != nil {
					s.log.Error("event stream: encoding an event", "err", err)
					continue
				}
				if _, err := fmt.Fprintf(w, "id: %d\nevent: state\ndata: %s\n\n", buf[i].Seq, b); err != nil {
					return
				}
			}
		}
		fl.Flush()
	}
}

func durationParam(v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days >= 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want a duration such as 90s, 24h or 7d, got %q", v)
	}
	return d, nil
}

func badParam(name string, err error) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Field: name, Message: name + ": " + err.Error()}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *api.Error) {
	writeJSON(w, e.Status, api.ErrorBody{Error: e})
}
