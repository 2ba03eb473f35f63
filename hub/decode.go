package hub

import (
	"context"
	"encoding/json"
)

// DoJSON decodes a command's JSON arguments with the entity's schema and
// runs it with Do. A command that cannot be decoded is refused, and
// audited as rejected like any other, with its arguments kept as text.
func (h *Hub) DoJSON(ctx context.Context, cmd Command, raw map[string]json.RawMessage) (Result, error) {
	h.mu.RLock()
	authz := h.authz[cmd.Principal.Kind()]
	h.mu.RUnlock()
	if authorize(authz, cmd) != nil {
		// Do refuses and audits it, before decoding tells anything.
		cmd.Args = nil
		return h.Do(ctx, cmd)
	}
	args, err := h.DecodeArgs(cmd.Entity, cmd.Action, raw)
	if err != nil {
		rec := &AuditRecord{At: h.now(), Principal: cmd.Principal, Source: cmd.Source, Entity: cmd.Entity, Action: cmd.Action}
		// As in Do: a refused critical command is still audited durably.
		h.mu.RLock()
		if en, ok := h.entities[cmd.Entity]; ok {
			if ac, ok := en.sc.actions[cmd.Action]; ok {
				rec.Critical = ac.Critical
			}
		}
		h.mu.RUnlock()
		if len(raw) > 0 {
			rec.Args = make(map[string]Value, len(raw))
			for k, r := range raw {
				rec.Args[k] = String(string(r))
			}
		}
		return h.refuse(ctx, rec, OutcomeRejected, err)
	}
	cmd.Args = args
	return h.Do(ctx, cmd)
}
