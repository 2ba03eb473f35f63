package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/hearth-hub/hearth/broker"
	"github.com/hearth-hub/hearth/daemon/api"
)

// mqttUsersMu serialises the read-modify-write of an MQTT user's record
// against its removal, so an ACL change never brings a removed user back.
var mqttUsersMu sync.Mutex

// mqttACL serves /v1/mqtt/users/{name}/acl: GET shows the user's role
// filters and own filters, POST adds or changes one of its own, DELETE
// ?filter= removes one. A change is audited and takes effect at once for
// the user's connected clients.
func (s *server) mqttACL(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx := r.Context()
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost && r.Method != http.MethodDelete {
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeError(w, &api.Error{Status: http.StatusMethodNotAllowed, Code: api.CodeMethod, Message: r.Method + " " + r.URL.Path + ": use GET, POST or DELETE"})
		return
	}
	mqttUsersMu.Lock()
	defer mqttUsersMu.Unlock()
	u, ok, err := storeUsers{s.d}.Lookup(name)
	if err != nil {
		writeError(w, &api.Error{Status: 500, Code: api.CodeInternal, Message: err.Error()})
		return
	}
	if !ok {
		writeError(w, &api.Error{Status: 404, Code: api.CodeNotFound, Message: fmt.Sprintf("no mqtt user %q", name)})
		return
	}
	var action string
	var change api.MQTTFilter
	switch r.Method {
	case http.MethodPost:
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<17)) // a filter may be 64 KiB
		dec.DisallowUnknownFields()
		if err := dec.Decode(&change); err != nil {
			writeError(w, &api.Error{Status: 400, Code: api.CodeBadRequest, Message: "body: " + err.Error()})
			return
		}
		a := broker.ACL{Filter: change.Filter, Read: change.Read, Write: change.Write}
		if err := broker.CheckUserACL(u.Role, a); err != nil {
			writeError(w, &api.Error{Status: 400, Code: api.CodeInvalid, Field: "filter", Message: fmt.Sprintf("mqtt user %s (%s): %v", name, roleOf(u), err)})
			return
		}
		if i := slices.IndexFunc(u.Filters, func(f broker.ACL) bool { return f.Filter == a.Filter }); i >= 0 {
			u.Filters[i] = a
		} else {
			u.Filters = append(u.Filters, a)
		}
		action = "mqtt_acl_add"
	case http.MethodDelete:
		change.Filter = r.URL.Query().Get("filter")
		n := len(u.Filters)
		u.Filters = slices.DeleteFunc(u.Filters, func(f broker.ACL) bool { return f.Filter == change.Filter })
		if len(u.Filters) == n {
			writeError(w, &api.Error{Status: 404, Code: api.CodeNotFound, Field: "filter", Message: fmt.Sprintf("mqtt user %s has no filter %q of its own (a role's filters cannot be removed)", name, change.Filter)})
			return
		}
		action = "mqtt_acl_rm"
	}
	if action != "" {
		raw, err := json.Marshal(u)
		if err == nil {
			err = s.d.db.PutKV(ctx, mqttUserPrefix+name, string(raw))
		}
		if err != nil {
			writeError(w, &api.Error{Status: 500, Code: api.CodeInternal, Message: fmt.Sprintf("save mqtt user %s: %v", name, err)})
			return
		}
		args := map[string]any{"name": name, "filter": change.Filter}
		if action == "mqtt_acl_add" {
			args["read"], args["write"] = change.Read, change.Write
		}
		s.auditMQTTArgs(ctx, action, args)
		s.refreshMQTTUser(name)
	}
	out, err := mqttACLOf(u)
	if err != nil {
		writeError(w, &api.Error{Status: 500, Code: api.CodeInternal, Message: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// refreshMQTTUser applies a change to the user to its live sessions.
func (s *server) refreshMQTTUser(name string) {
	if s.d.broker == nil {
		return
	}
	if _, err := s.d.broker.Refresh(name); err != nil {
		s.log.Error("mqtt user change not applied to its sessions", "user", name, "err", err)
	}
}

func mqttACLOf(u broker.User) (api.MQTTACL, error) {
	def, err := broker.RoleFilters(u.Role, u.Name)
	if err != nil {
		return api.MQTTACL{}, fmt.Errorf("mqtt user %s: %w", u.Name, err)
	}
	conv := func(as []broker.ACL) []api.MQTTFilter {
		out := make([]api.MQTTFilter, 0, len(as))
		for _, a := range as {
			out = append(out, api.MQTTFilter{Filter: a.Filter, Read: a.Read, Write: a.Write})
		}
		return out
	}
	return api.MQTTACL{User: u.Name, Role: roleOf(u), RoleFilters: conv(def), Filters: conv(u.Filters)}, nil
}
