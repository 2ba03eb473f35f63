package daemon

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hearth-hub/hearth/broker"
	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/hub"
	"github.com/hearth-hub/hearth/store"
)

// MQTT users live in the store's kv table under this prefix, as JSON.
const mqttUserPrefix = "mqtt/user/"

// storeUsers is the broker's user list, kept in the store.
type storeUsers struct{ d *Daemon }

func (u storeUsers) Lookup(name string) (broker.User, bool, error) {
	raw, ok, err := u.d.db.GetKV(context.Background(), mqttUserPrefix+name)
	if err != nil || !ok {
		return broker.User{}, false, err
	}
	var usr broker.User
	if err := json.Unmarshal([]byte(raw), &usr); err != nil {
		return broker.User{}, false, fmt.Errorf("mqtt user %q: %w", name, err)
	}
	return usr, true, nil
}

// startBroker runs the embedded broker when mqtt.listen is set.
func (d *Daemon) startBroker(cfg MQTTConfig) error {
	if cfg.Listen == "" {
		return nil
	}
	opts := broker.Options{Addr: cfg.Listen, Users: storeUsers{d}, Hub: d.hub, Logger: d.log, // the broker names its own component
		ClientRate: cfg.ClientRate, ClientBurst: cfg.ClientBurst, Store: d.db}
	if err := d.brokerListeners(cfg, &opts); err != nil {
		return err
	}
	b, err := broker.New(opts)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	if err := d.metrics.addBroker(b); err != nil {
		_ = b.Close()
		return fmt.Errorf("mqtt: %w", err)
	}
	d.broker = b
	return nil
}

var mqttRoles = []string{broker.RoleDevice, broker.RoleIntegration, broker.RoleAdmin}

// mqttUsers serves /v1/mqtt/users: GET lists, POST adds (and answers the
// generated password, once), DELETE /v1/mqtt/users/{name} removes.
func (s *server) mqttUsers(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		kvs, err := s.d.db.ListKV(ctx, mqttUserPrefix)
		if err != nil {
			writeError(w, &api.Error{Status: 500, Code: api.CodeInternal, Message: err.Error()})
			return
		}
		out := api.MQTTUsers{Users: []api.MQTTUser{}}
		for _, kv := range kvs {
			var u broker.User
			if json.Unmarshal([]byte(kv[1]), &u) == nil {
				out.Users = append(out.Users, api.MQTTUser{Name: u.Name, Role: roleOf(u)})
			}
		}
		writeJSON(w, http.StatusOK, out)
	case http.MethodPost:
		var req api.MQTTUser
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, &api.Error{Status: 400, Code: api.CodeBadRequest, Message: "body: " + err.Error()})
			return
		}
		if err := checkUserName(req.Name); err != nil {
			writeError(w, &api.Error{Status: 400, Code: api.CodeInvalid, Field: "name", Message: err.Error()})
			return
		}
		if req.Role == "" {
			req.Role = broker.RoleDevice
		}
		if !slices.Contains(mqttRoles, req.Role) {
			writeError(w, &api.Error{Status: 400, Code: api.CodeInvalid, Field: "role", Message: fmt.Sprintf("role %q: want one of %s", req.Role, strings.Join(mqttRoles, ", "))})
			return
		}
		if _, ok, _ := s.d.db.GetKV(ctx, mqttUserPrefix+req.Name); ok {
			writeError(w, &api.Error{Status: 409, Code: api.CodeFailed, Field: "name", Message: fmt.Sprintf("mqtt user %q exists: remove it first", req.Name)})
			return
		}
		raw := make([]byte, 18)
		if _, err := rand.Read(raw); err != nil {
			writeError(w, &api.Error{Status: 500, Code: api.CodeInternal, Message: err.Error()})
			return
		}
		password := base64.RawURLEncoding.EncodeToString(raw)
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			writeError(w, &api.Error{Status: 500, Code: api.CodeInternal, Message: err.Error()})
			return
		}
		b, _ := json.Marshal(broker.User{Name: req.Name, Hash: hash, Role: req.Role})
		if err := s.d.db.PutKV(ctx, mqttUserPrefix+req.Name, string(b)); err != nil {
			writeError(w, &api.Error{Status: 500, Code: api.CodeInternal, Message: err.Error()})
			return
		}
		s.auditMQTT(ctx, "mqtt_user_add", req.Name, req.Role)
		writeJSON(w, http.StatusOK, api.MQTTUser{Name: req.Name, Role: req.Role, Password: password})
	default:
		writeError(w, &api.Error{Status: http.StatusMethodNotAllowed, Code: api.CodeMethod, Message: r.Method + " " + r.URL.Path + ": use GET or POST"})
	}
}

func (s *server) mqttUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	mqttUsersMu.Lock()
	defer mqttUsersMu.Unlock()
	if _, ok, _ := s.d.db.GetKV(r.Context(), mqttUserPrefix+name); !ok {
		writeError(w, &api.Error{Status: 404, Code: api.CodeNotFound, Message: fmt.Sprintf("no mqtt user %q", name)})
		return
	}
	if err := s.d.db.DeleteKV(r.Context(), mqttUserPrefix+name); err != nil {
		writeError(w, &api.Error{Status: 500, Code: api.CodeInternal, Message: err.Error()})
		return
	}
	s.auditMQTT(r.Context(), "mqtt_user_rm", name, "")
	s.refreshMQTTUser(name) // disconnects its clients
	writeJSON(w, http.StatusOK, api.MQTTUser{Name: name})
}

// auditMQTT records a change of who may use the broker.
func (s *server) auditMQTT(ctx context.Context, action, name, role string) {
	s.auditMQTTArgs(ctx, action, map[string]any{"name": name, "role": role})
}

// auditMQTTArgs records a change to the broker's users with its arguments.
func (s *server) auditMQTTArgs(ctx context.Context, action string, a map[string]any) {
	args, _ := json.Marshal(a)
	row := store.AuditRow{At: time.Now(), Principal: string(hub.Owner), Source: "api", Entity: "mqtt", Action: action, Args: string(args), Outcome: string(hub.OutcomeOK), Critical: true}
	if err := s.d.db.Audit(ctx, &row, true); err != nil {
		s.log.Error("audit", "err", err)
	}
}

func roleOf(u broker.User) string {
	if u.Role == "" {
		return broker.RoleDevice
	}
	return u.Role
}

func checkUserName(n string) error {
	if n == "" || len(n) > 64 {
		return errors.New("a name of 1 to 64 characters is required")
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("%q: only a-z, 0-9, _ and - are allowed (it is part of topic names)", n)
		}
	}
	return nil
}
