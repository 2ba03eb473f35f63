package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hearth-hub/hearth/hub"
)

// The hub's topics.
const (
	StatusTopic = "hearth/status"
	topicPrefix = "hearth/"
)

// StateTopic is an entity's retained state topic.
func StateTopic(id hub.ID) string { return topicPrefix + id.Kind() + "/" + id.Name() + "/state" }

// SetTopic is an entity's command topic.
func SetTopic(id hub.ID) string { return topicPrefix + id.Kind() + "/" + id.Name() + "/set" }

// ErrorTopic is where refused commands are answered.
func ErrorTopic(id hub.ID) string { return topicPrefix + id.Kind() + "/" + id.Name() + "/error" }

// parseEntityTopic returns the entity and the last level of
// hearth/<kind>/<name>/<leaf>.
func parseEntityTopic(topic string) (hub.ID, string, bool) {
	rest, ok := strings.CutPrefix(topic, topicPrefix)
	if !ok {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return "", "", false
	}
	id, err := hub.ParseID(parts[0] + "." + parts[1])
	if err != nil {
		return "", "", false
	}
	return id, parts[2], true
}

// BridgeOptions configure the bridge hook.
type BridgeOptions struct {
	Server  *mqtt.Server // with InlineClient on
	Hub     *hub.Hub
	Users   Users         // for the hub's "mqtt" authorizer
	Timeout time.Duration // per command; 10s if zero
	Queue   int           // bus queue length; 1024 if zero
}

// BridgeHook joins the hub and the broker: entity states out, commands in.
type BridgeHook struct {
	mqtt.HookBase
	opts BridgeOptions

	sub    *hub.Subscription
	cancel context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup
	once   sync.Once

	closing     atomic.Bool   // offline has been published
	offlineSent chan struct{} // one per offline status written to a client
}

// ID implements mqtt.Hook.
func (h *BridgeHook) ID() string { return "hearth-bridge" }

// Provides implements mqtt.Hook.
func (h *BridgeHook) Provides(b byte) bool {
	return b == mqtt.OnStarted || b == mqtt.OnPublish || b == mqtt.OnPacketSent
}

// Init takes a BridgeOptions and registers the hub's "mqtt" authorizer.
func (h *BridgeHook) Init(config any) error {
	opts, ok := config.(BridgeOptions)
	if !ok || opts.Server == nil || opts.Hub == nil || opts.Users == nil {
		return fmt.Errorf("%s: want BridgeOptions with Server, Hub and Users, got %T", h.ID(), config)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	h.opts = opts
	h.offlineSent = make(chan struct{}, 64)
	h.ctx, h.cancel = context.WithCancel(context.Background())
	opts.Hub.SetAuthorizer("mqtt", hub.AuthorizerFunc(h.authorize))
	return nil
}

// authorize lets an mqtt:<user> principal do what its write filters allow
// on the entity's set topic.
func (h *BridgeHook) authorize(p hub.Principal, entity hub.ID, _ string) error {
	_, name, _ := strings.Cut(string(p), ":")
	u, ok, err := h.opts.Users.Lookup(name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no mqtt user %q", name)
	}
	perms, err := PermsFor(u)
	if err != nil {
		return err
	}
	if !perms.CanWrite(SetTopic(entity)) {
		return fmt.Errorf("mqtt user %q may not write %s", name, SetTopic(entity))
	}
	return nil
}

// OnStarted publishes the hub's status and every state, then follows the bus.
func (h *BridgeHook) OnStarted() {
	// Subscribe before the snapshot so that no change falls between them.
	h.sub = h.opts.Hub.Bus().Subscribe("mqtt-bridge", h.opts.Queue, nil)
	h.publish(StatusTopic, []byte("online"), true)
	h.publishAll()
	h.wg.Add(1)
	go h.follow()
}

// Stop implements mqtt.Hook: it stops following the bus.
func (h *BridgeHook) Stop() error {
	h.cancel()
	h.wg.Wait()
	return nil
}

// offlineWait bounds how long closing waits for hearth/status offline to
// reach the clients subscribed to it.
const offlineWait = time.Second

// offline publishes hearth/status offline; the broker calls it before
// closing, and it waits (boundedly) until the subscribers have been sent
// it, since closing drops what is still queued.
func (h *BridgeHook) offline() {
	h.once.Do(func() {
		subs := h.opts.Server.Topics.Subscribers(StatusTopic)
		want := len(subs.Subscriptions) + len(subs.Shared)
		h.closing.Store(true)
		h.publish(StatusTopic, []byte("offline"), true)
		deadline := time.NewTimer(offlineWait)
		defer deadline.Stop()
		for range want {
			select {
			case <-h.offlineSent:
			case <-deadline.C:
				h.Log.Warn("closing before every client was sent the offline status", "hook", h.ID())
				return
			}
		}
	})
}

// OnPacketSent implements mqtt.Hook: it notes the offline status going out.
// Only the offline payload counts: an "online" still on its way when the
// broker closes must not stand in for it.
func (h *BridgeHook) OnPacketSent(_ *mqtt.Client, pk packets.Packet, _ []byte) {
	if h.closing.Load() && pk.FixedHeader.Type == packets.Publish && pk.TopicName == StatusTopic &&
		string(pk.Payload) == "offline" {
		select {
		case h.offlineSent <- struct{}{}:
		default:
		}
	}
}

func (h *BridgeHook) follow() {
	defer h.wg.Done()
	defer h.sub.Close()
	var buf []hub.Event
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.sub.Ready():
		}
		events, dropped := h.sub.Drain(buf)
		if dropped > 0 {
			h.Log.Warn("bridge fell behind the bus: republishing every state", "hook", h.ID(), "dropped", dropped)
			h.publishAll()
		} else {
			seen := map[hub.ID]bool{}
			for i := len(events) - 1; i >= 0; i-- { // the latest state once per entity
				id := events[i].Entity
				if !seen[id] {
					seen[id] = true
					h.publishState(id)
				}
			}
		}
		buf = events
	}
}

func (h *BridgeHook) publishAll() {
	for _, s := range h.opts.Hub.Entities() {
		h.publishSnapshot(s)
	}
}

func (h *BridgeHook) publishState(id hub.ID) {
	s, ok := h.opts.Hub.Get(id)
	if !ok {
		h.publish(StateTopic(id), nil, true) // clears the retained state
		return
	}
	h.publishSnapshot(s)
}

func (h *BridgeHook) publishSnapshot(s hub.Snapshot) {
	doc := make(map[string]any, len(s.Attrs))
	for k, v := range s.Attrs {
		doc[k] = v.Native()
	}
	b, err := json.Marshal(doc)
	if err != nil {
		h.Log.Error("state", "hook", h.ID(), "entity", s.ID, "err", err)
		return
	}
	h.publish(StateTopic(s.ID), b, true)
}

func (h *BridgeHook) publish(topic string, payload []byte, retain bool) {
	if err := h.opts.Server.Publish(topic, payload, retain, 1); err != nil {
		h.Log.Error("publish", "hook", h.ID(), "topic", topic, "err", err)
	}
}

// OnPublish runs commands published on hearth/<kind>/<name>/set. The ACL
// has already allowed the publish.
func (h *BridgeHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	id, leaf, ok := parseEntityTopic(pk.TopicName)
	if !ok || leaf != "set" {
		return pk, nil
	}
	pk.FixedHeader.Retain = false // a command is not a state to keep
	user := string(cl.Properties.Username)
	cmd := hub.Command{Entity: id, Action: hub.ActionSet, Principal: hub.Principal("mqtt:" + user), Source: "mqtt"}
	raw, err := decodeCommand(pk.Payload, &cmd.Action)
	if err == nil {
		ctx, cancel := context.WithTimeout(h.ctx, h.opts.Timeout)
		_, err = h.opts.Hub.DoJSON(ctx, cmd, raw)
		cancel()
	}
	if err != nil {
		h.Log.Warn("mqtt command refused", "hook", h.ID(), "user", user, "entity", id, "action", cmd.Action, "err", err)
		msg, _ := json.Marshal(map[string]string{"error": err.Error()})
		h.publish(ErrorTopic(id), msg, false)
	}
	return pk, nil
}

// maxCommand bounds a command payload.
const maxCommand = 4096

// decodeCommand reads a command's JSON object: its arguments, and the
// action when an "action" member names one.
func decodeCommand(payload []byte, action *string) (map[string]json.RawMessage, error) {
	if len(payload) > maxCommand {
		return nil, fmt.Errorf("command of %d bytes: at most %d", len(payload), maxCommand)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, fmt.Errorf("command: want a JSON object: %w", err)
	}
	if raw == nil {
		return nil, errors.New("command: want a JSON object, got null")
	}
	if a, ok := raw["action"]; ok {
		if err := json.Unmarshal(a, action); err != nil || *action == "" {
			return nil, errors.New(`command: "action" must be a non-empty string`)
		}
		delete(raw, "action")
	}
	return raw, nil
}
