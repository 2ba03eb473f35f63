// Package api holds the types of hearthd's local HTTP/JSON API and a client
// for it. The daemon serves these types; the CLI and the dashboard read them.
package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hearth-hub/hearth/hub"
)

// Error codes, stable for scripts.
const (
	CodeBadRequest    = "bad_request"    // the request itself is malformed
	CodeInvalid       = "invalid"        // a command argument is wrong: see Field
	CodeUnknownAction = "unknown_action" // the entity has no such action
	CodeNotFound      = "not_found"      // no such entity or path
	CodeForbidden     = "forbidden"      // the principal may not do this
	CodeUnauthorized  = "unauthorized"   // missing or wrong bearer token
	CodeMethod        = "method_not_allowed"
	CodeUnavailable   = "unavailable" // the entity or the daemon cannot do it now
	CodeFailed        = "failed"      // the entity's owner tried and failed
	CodeInternal      = "internal"
)

// Error is the body of every error response: {"error": {...}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Entity  string `json:"entity,omitempty"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// ErrorBody wraps Error on the wire.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// Health is GET /v1/health.
type Health struct {
	Status    string      `json:"status"` // "ok" or "degraded"
	Problems  []string    `json:"problems,omitempty"`
	Version   string      `json:"version"`
	StartedAt time.Time   `json:"started_at"`
	Uptime    Duration    `json:"uptime"`
	Config    string      `json:"config"`
	Entities  int         `json:"entities"`
	Bus       BusHealth   `json:"bus"`
	Store     StoreHealth `json:"store"`
	Loops     []string    `json:"overdue_loops,omitempty"`
	Restart   []string    `json:"restart_needed_for,omitempty"` // config changes a reload could not apply
}

// BusHealth is the event bus's part of Health.
type BusHealth struct {
	Seq         uint64         `json:"seq"`
	Published   uint64         `json:"published"`
	Subscribers []hub.SubStats `json:"subscribers"`
}

// StoreHealth is the store's part of Health.
type StoreHealth struct {
	Path               string    `json:"path"`
	Committed          uint64    `json:"committed_seq"`
	Pending            int       `json:"pending"`
	Commits            uint64    `json:"commits"`
	CommitErrors       uint64    `json:"commit_errors"`
	LastCommit         time.Time `json:"last_commit"`
	LastCommitDuration Duration  `json:"last_commit_duration"`
	LastError          string    `json:"last_error,omitempty"`
}

// Entities is GET /v1/entities.
type Entities struct {
	Entities []hub.Snapshot `json:"entities"`
}

// CommandRequest is POST /v1/commands.
type CommandRequest struct {
	Entity string                     `json:"entity"`
	Action string                     `json:"action"`
	Args   map[string]json.RawMessage `json:"args,omitempty"`
	// Wait "commit" returns only once the command's changes and its audit
	// row are committed to the store.
	Wait string `json:"wait,omitempty"`
}

// WaitCommit is the CommandRequest.Wait that waits for the store.
const WaitCommit = "commit"

// CommandResponse answers a command that was carried out.
type CommandResponse struct {
	Entity    string        `json:"entity"`
	Action    string        `json:"action"`
	Seq       uint64        `json:"seq"`
	AuditID   int64         `json:"audit_id"`
	Committed bool          `json:"committed"` // true when the store has it (Wait "commit", or a critical command)
	Duration  Duration      `json:"duration"`
	State     *hub.Snapshot `json:"state,omitempty"`
}

// History is GET /v1/entities/{id}/history.
type History struct {
	Entity string    `json:"entity"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Step   Duration  `json:"step"`
	Series []Series  `json:"series"`
}

// Series is one attribute's history.
type Series struct {
	Attr   string  `json:"attr"`
	Type   string  `json:"type"`
	Unit   string  `json:"unit,omitempty"`
	Points []Point `json:"points"`
}

// Point is one raw value (Count 1) or one aggregate.
type Point struct {
	At    time.Time `json:"at"`
	Value any       `json:"value"` // the value, or an aggregate's mean (numbers) or last value (others)
	Min   *float64  `json:"min,omitempty"`
	Max   *float64  `json:"max,omitempty"`
	Count int       `json:"count"`
}

// Audit is GET /v1/audit.
type Audit struct {
	Records []AuditEntry `json:"records"`
}

// AuditEntry is one command as the audit log keeps it.
type AuditEntry struct {
	ID        int64           `json:"id"`
	At        time.Time       `json:"at"`
	Principal string          `json:"principal"`
	Source    string          `json:"source"`
	Entity    string          `json:"entity"`
	Action    string          `json:"action"`
	Args      json.RawMessage `json:"args"`
	Outcome   string          `json:"outcome"`
	Error     string          `json:"error,omitempty"`
	Duration  Duration        `json:"duration"`
	Critical  bool            `json:"critical,omitempty"`
}

// Overflow is the data of an SSE "overflow" event: the stream's queue was
// full and this many events were dropped for this client.
type Overflow struct {
	Dropped uint64 `json:"dropped"`
}

// Duration is a time.Duration that reads and writes as "1m30s".
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// MQTTUser is an account of the embedded MQTT broker. Password is only
// ever sent once: in the answer to the POST that created it.
type MQTTUser struct {
	Name     string `json:"name"`
	Role     string `json:"role,omitempty"` // device (default), integration, admin
	Password string `json:"password,omitempty"`
}

// MQTTUsers is GET /v1/mqtt/users.
type MQTTUsers struct {
	Users []MQTTUser `json:"users"`
}
