package broker

import (
	"bytes"
	"fmt"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// ACLHook checks every subscribe and publish against the client's Perms.
type ACLHook struct {
	mqtt.HookBase
	sessions *Sessions
}

// ACLOptions configure the ACL hook.
type ACLOptions struct {
	Sessions *Sessions
}

// ID implements mqtt.Hook.
func (h *ACLHook) ID() string { return "hearth-acl" }

// Provides implements mqtt.Hook.
func (h *ACLHook) Provides(b byte) bool { return b == mqtt.OnACLCheck }

// Init takes an ACLOptions.
func (h *ACLHook) Init(config any) error {
	opts, ok := config.(ACLOptions)
	if !ok || opts.Sessions == nil {
		return fmt.Errorf("%s: want ACLOptions with Sessions, got %T", h.ID(), config)
	}
	h.sessions = opts.Sessions
	return nil
}

// OnACLCheck implements mqtt.Hook.
func (h *ACLHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	p := h.sessions.Get(cl)
	if p == nil || !bytes.Equal(cl.Properties.Username, []byte(p.user)) {
		return false
	}
	if write {
		return p.CanWrite(topic)
	}
	return p.CanRead(topic)
}
