package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"
)

// Handler is an entity's owner: it carries out commands that the hub has
// already validated and authorised.
type Handler interface {
	HandleCommand(ctx context.Context, cmd Command) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, cmd Command) error

// HandleCommand calls f.
func (f HandlerFunc) HandleCommand(ctx context.Context, cmd Command) error { return f(ctx, cmd) }

// Entity is what an owner registers.
type Entity struct {
	ID      ID
	Name    string // for people; defaults to the ID
	Attrs   []AttrSpec
	Actions []ActionSpec
	Handler Handler
	// Virtual marks a helper declared in config, owned by the hub itself.
	Virtual bool
}

// Snapshot is an entity's description and current state.
type Snapshot struct {
	ID        ID               `json:"id"`
	Name      string           `json:"name"`
	Virtual   bool             `json:"virtual,omitempty"`
	Available bool             `json:"available"`
	Error     string           `json:"error,omitempty"`
	Attrs     map[string]Value `json:"attributes"`
	UpdatedAt time.Time        `json:"updated_at"`
	Schema    []AttrSpec       `json:"schema"`
	Actions   []ActionSpec     `json:"actions"`
}

type entry struct {
	e         Entity
	sc        *schema
	state     map[string]Value
	available bool
	err       string
	updated   time.Time
}

// Command is a request to change something.
type Command struct {
	Entity    ID               `json:"entity"`
	Action    string           `json:"action"`
	Args      map[string]Value `json:"args,omitempty"`
	Principal Principal        `json:"principal"`
	Source    string           `json:"source"` // "api", "mqtt", "rule", ...
}

// Result is what a command returns when it has been carried out.
type Result struct {
	// Seq is the bus's last sequence number once the command ran: every
	// change it made has a Seq no greater than this.
	Seq      uint64
	AuditID  int64
	Duration time.Duration
}

// Authorizer decides whether a principal may run an action on an entity.
type Authorizer interface {
	Authorize(p Principal, entity ID, action string) error
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(p Principal, entity ID, action string) error

// Authorize calls f.
func (f AuthorizerFunc) Authorize(p Principal, entity ID, action string) error {
	return f(p, entity, action)
}

// Outcome is how a command ended, as the audit log records it.
type Outcome string

// The outcomes.
const (
	OutcomePending  Outcome = "pending"  // a critical command about to run
	OutcomeOK       Outcome = "ok"       // carried out
	OutcomeFailed   Outcome = "failed"   // the owner reported an error
	OutcomeRejected Outcome = "rejected" // invalid: unknown entity or action, bad argument
	OutcomeDenied   Outcome = "denied"   // the principal may not do this
)

// AuditRecord is one row of the audit log.
type AuditRecord struct {
	ID        int64            `json:"id"`
	At        time.Time        `json:"at"`
	Principal Principal        `json:"principal"`
	Source    string           `json:"source"`
	Entity    ID               `json:"entity"`
	Action    string           `json:"action"`
	Args      map[string]Value `json:"args,omitempty"`
	Outcome   Outcome          `json:"outcome"`
	Error     string           `json:"error,omitempty"`
	Duration  time.Duration    `json:"duration_ns"`
	Critical  bool             `json:"critical,omitempty"`
}

// Auditor keeps the audit log. Audit assigns rec.ID when it is zero and
// replaces the row when it is not. With durable set it returns only once
// the row is committed.
type Auditor interface {
	Audit(ctx context.Context, rec *AuditRecord, durable bool) error
}

// Options configure a Hub.
type Options struct {
	Now      func() time.Time // wall clock for event times; time.Now if nil
	FirstSeq uint64           // the first event's sequence number (continue after a restart)
	Auditor  Auditor          // nil: commands are not audited
	Liveness *Liveness        // nil: the hub makes its own
}

// Hub holds the entities, their state and the bus.
type Hub struct {
	bus     Bus
	now     func() time.Time
	auditor Auditor

	mu       sync.RWMutex
	entities map[ID]*entry
	seq      uint64
	authz    map[string]Authorizer
	live     *Liveness
}

// New returns an empty hub.
func New(opts Options) *Hub {
	h := &Hub{now: opts.Now, auditor: opts.Auditor, entities: map[ID]*entry{}, authz: map[string]Authorizer{}}
	if h.now == nil {
		h.now = time.Now
	}
	h.live = opts.Liveness
	if h.live == nil {
		h.live = new(Liveness)
	}
	if opts.FirstSeq > 0 {
		h.seq = opts.FirstSeq - 1
	}
	return h
}

// Bus is the hub's event bus.
func (h *Hub) Bus() *Bus { return &h.bus }

// Liveness is the registry of the loops the watchdog watches.
func (h *Hub) Liveness() *Liveness { return h.live }

// Seq is the last event's sequence number.
func (h *Hub) Seq() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.seq
}

// SetAuthorizer decides for principals of one kind ("mqtt", "assistant").
// Without one, the owner and rules may do anything and all others nothing.
func (h *Hub) SetAuthorizer(kind string, a Authorizer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.authz[kind] = a
}

// Register adds an entity with its initial state. Initial values that do
// not fit the schema are an error; attributes not given start empty.
// Registering adds no event: the state is where the entity starts.
func (h *Hub) Register(e Entity, initial map[string]Value) error {
	if _, err := ParseID(string(e.ID)); err != nil {
		return err
	}
	// The hub carries out a virtual entity's "set" itself, nothing else.
	if e.Handler == nil && (len(e.Actions) > 0 || !e.Virtual && hasActions(e)) {
		return fmt.Errorf("%s: has actions but no handler", e.ID)
	}
	if e.Name == "" {
		e.Name = string(e.ID)
	}
	e.Attrs = cloneSpecs(e.Attrs)
	e.Actions = cloneActions(e.Actions)
	sc, err := newSchema(e.ID, e.Attrs, e.Actions)
	if err != nil {
		return err
	}
	state := make(map[string]Value, len(e.Attrs))
	for name, v := range initial {
		spec, ok := sc.attrs[name]
		if !ok {
			return fmt.Errorf("%s: initial value for unknown attribute %q", e.ID, name)
		}
		v = spec.withUnit(v)
		if v.Type() != spec.Type {
			return fmt.Errorf("%s: attribute %q: initial value is %v, want %v", e.ID, name, v.Type(), spec.Type)
		}
		if !v.finite() {
			return fmt.Errorf("%s: attribute %q: initial value %v is not a finite number", e.ID, name, v)
		}
		state[name] = v
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.entities[e.ID]; dup {
		return fmt.Errorf("%s: already registered", e.ID)
	}
	h.entities[e.ID] = &entry{e: e, sc: sc, state: state, available: true, updated: h.now()}
	return nil
}

func hasActions(e Entity) bool {
	if len(e.Actions) > 0 {
		return true
	}
	for _, a := range e.Attrs {
		if a.Writable {
			return true
		}
	}
	return false
}

// Unregister removes an entity.
func (h *Hub) Unregister(id ID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.entities[id]; !ok {
		return fmt.Errorf("%s: %w", id, ErrUnknownEntity)
	}
	delete(h.entities, id)
	return nil
}

// Update sets attributes of an entity and publishes one event with the
// attributes whose value changed. It returns the event's sequence number,
// or 0 when nothing changed. Values must have the attribute's type; ranges
// are not enforced (a reading is what it is).
func (h *Hub) Update(id ID, source string, cause Principal, attrs map[string]Value) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	en, ok := h.entities[id]
	if !ok {
		return 0, fmt.Errorf("%s: %w", id, ErrUnknownEntity)
	}
	var changes []Change
	for name, v := range attrs {
		spec, ok := en.sc.attrs[name]
		if !ok {
			return 0, fmt.Errorf("%s: update of unknown attribute %q", id, name)
		}
		v = spec.withUnit(v)
		if v.Type() != spec.Type {
			return 0, fmt.Errorf("%s: attribute %q: got %v, want %v", id, name, v.Type(), spec.Type)
		}
		if !v.finite() { // it could not be written as JSON
			return 0, fmt.Errorf("%s: attribute %q: %v is not a finite number", id, name, v)
		}
		if old := en.state[name]; !old.Equal(v) {
			changes = append(changes, Change{Attr: name, Old: old, New: v})
		}
	}
	if len(changes) == 0 {
		return 0, nil
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Attr < changes[j].Attr })
	for _, c := range changes {
		en.state[c.Attr] = c.New
	}
	return h.publishLocked(en, changes, source, cause), nil
}

// SetAvailable marks an entity available, or unavailable with the error
// that made it so. A change is published as the pseudo-attribute
// "available".
func (h *Hub) SetAvailable(id ID, source string, err error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	en, ok := h.entities[id]
	if !ok {
		return fmt.Errorf("%s: %w", id, ErrUnknownEntity)
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if en.available == (err == nil) && en.err == msg {
		return nil
	}
	old := Bool(en.available)
	en.available, en.err = err == nil, msg
	h.publishLocked(en, []Change{{Attr: "available", Old: old, New: Bool(err == nil)}}, source, "")
	return nil
}

func (h *Hub) publishLocked(en *entry, changes []Change, source string, cause Principal) uint64 {
	h.seq++
	en.updated = h.now()
	ev := Event{Seq: h.seq, Entity: en.e.ID, Changes: changes, At: en.updated, Source: source, Cause: cause}
	h.bus.Publish(&ev)
	return h.seq
}

// Get returns one entity's snapshot.
func (h *Hub) Get(id ID) (Snapshot, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	en, ok := h.entities[id]
	if !ok {
		return Snapshot{}, false
	}
	return en.snapshot(), true
}

// Entities returns every entity's snapshot, sorted by ID.
func (h *Hub) Entities() []Snapshot {
	h.mu.RLock()
	out := make([]Snapshot, 0, len(h.entities))
	for _, en := range h.entities {
		out = append(out, en.snapshot())
	}
	h.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (en *entry) snapshot() Snapshot {
	return Snapshot{
		ID: en.e.ID, Name: en.e.Name, Virtual: en.e.Virtual,
		Available: en.available, Error: en.err,
		Attrs: maps.Clone(en.state), UpdatedAt: en.updated,
		Schema: cloneSpecs(en.e.Attrs), Actions: en.sc.actionList(),
	}
}

// DecodeArgs reads a command's JSON arguments with the entity's schema:
// a typed error names the field that is wrong.
func (h *Hub) DecodeArgs(id ID, action string, raw map[string]json.RawMessage) (map[string]Value, error) {
	h.mu.RLock()
	en, ok := h.entities[id]
	h.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%s: %w", id, ErrUnknownEntity)
	}
	return en.sc.decodeArgs(id, action, raw)
}

// Do validates, authorises, audits and carries out a command.
func (h *Hub) Do(ctx context.Context, cmd Command) (Result, error) {
	start := h.now()
	rec := &AuditRecord{At: start, Principal: cmd.Principal, Source: cmd.Source, Entity: cmd.Entity, Action: cmd.Action, Args: cmd.Args}

	h.mu.RLock()
	en, ok := h.entities[cmd.Entity]
	authz := h.authz[cmd.Principal.Kind()]
	h.mu.RUnlock()
	if ok {
		if ac := en.sc.actions[cmd.Action]; ac != nil {
			rec.Critical = ac.Critical
		}
	}
	// Authorise before anything else, so that a principal without the
	// right learns nothing of the entity or its schema from the error.
	if err := authorize(authz, cmd); err != nil {
		return h.refuse(ctx, rec, OutcomeDenied, err)
	}
	if !ok {
		return h.refuse(ctx, rec, OutcomeRejected, fmt.Errorf("%s: %w", cmd.Entity, ErrUnknownEntity))
	}
	_, args, err := en.sc.checkCommand(cmd.Entity, cmd.Action, cmd.Args)
	if err != nil {
		return h.refuse(ctx, rec, OutcomeRejected, err)
	}
	cmd.Args, rec.Args = args, args

	if rec.Critical && h.auditor != nil {
		rec.Outcome = OutcomePending
		if err := h.auditor.Audit(ctx, rec, true); err != nil {
			return Result{}, fmt.Errorf("%s %s: not carried out: audit: %w", cmd.Entity, cmd.Action, err)
		}
	}
	runErr := h.run(ctx, en, cmd)
	res := Result{Seq: h.Seq(), Duration: h.now().Sub(start)}
	rec.Duration = res.Duration
	rec.Outcome = OutcomeOK
	if runErr != nil {
		rec.Outcome, rec.Error = OutcomeFailed, runErr.Error()
	}
	if h.auditor != nil {
		if err := h.auditor.Audit(context.WithoutCancel(ctx), rec, rec.Critical); err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("audit: %w", err))
		}
	}
	res.AuditID = rec.ID
	return res, runErr
}

func authorize(a Authorizer, cmd Command) error {
	switch kind := cmd.Principal.Kind(); {
	case a != nil:
		if err := a.Authorize(cmd.Principal, cmd.Entity, cmd.Action); err != nil {
			return fmt.Errorf("%s %s by %s: %w: %v", cmd.Entity, cmd.Action, cmd.Principal, ErrForbidden, err)
		}
		return nil
	case cmd.Principal == Owner:
		return nil
	case kind == "rule":
		// "rule" or "rule:" alone is no rule's name.
		if _, err := ParsePrincipal(string(cmd.Principal)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s %s by %q: %w", cmd.Entity, cmd.Action, cmd.Principal, ErrForbidden)
}

// run calls the owner, turning a panic into an error so that one faulty
// owner cannot take the process down.
func (h *Hub) run(ctx context.Context, en *entry, cmd Command) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s %s: owner panicked: %v", cmd.Entity, cmd.Action, p)
		}
	}()
	if en.e.Virtual && cmd.Action == ActionSet {
		_, err = h.Update(cmd.Entity, cmd.Source, cmd.Principal, cmd.Args)
		return err
	}
	return en.e.Handler.HandleCommand(ctx, cmd)
}

func (h *Hub) refuse(ctx context.Context, rec *AuditRecord, o Outcome, err error) (Result, error) {
	rec.Outcome, rec.Error = o, err.Error()
	if h.auditor != nil {
		if aerr := h.auditor.Audit(context.WithoutCancel(ctx), rec, rec.Critical); aerr != nil {
			err = errors.Join(err, fmt.Errorf("audit: %w", aerr))
		}
	}
	return Result{Seq: h.Seq(), AuditID: rec.ID}, err
}
