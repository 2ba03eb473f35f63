package api

import (
	"context"
	"net/http"
	"net/url"
)

// MQTTFilter is one topic filter of an MQTT user's access list.
type MQTTFilter struct {
	Filter string `json:"filter"`
	Read   bool   `json:"read"`
	Write  bool   `json:"write"`
}

// MQTTACL is GET /v1/mqtt/users/{name}/acl: the filters the user's role
// gives it and the user's own, which are added to them. A POST of an
// MQTTFilter adds one of the user's own (or changes its read and write); a
// DELETE with ?filter= removes one. Both answer the new MQTTACL.
type MQTTACL struct {
	User        string       `json:"user"`
	Role        string       `json:"role"`
	RoleFilters []MQTTFilter `json:"role_filters"`
	Filters     []MQTTFilter `json:"filters"`
}

func mqttACLPath(name string) string { return "/v1/mqtt/users/" + url.PathEscape(name) + "/acl" }

// MQTTACL returns an MQTT user's topic filters.
func (c *Client) MQTTACL(ctx context.Context, name string) (*MQTTACL, error) {
	var a MQTTACL
	return &a, c.do(ctx, http.MethodGet, mqttACLPath(name), nil, &a)
}

// AddMQTTACL adds f to an MQTT user's own filters, or changes its read and
// write if the user has it already.
func (c *Client) AddMQTTACL(ctx context.Context, name string, f MQTTFilter) (*MQTTACL, error) {
	var a MQTTACL
	return &a, c.do(ctx, http.MethodPost, mqttACLPath(name), f, &a)
}

// RemoveMQTTACL removes filter from an MQTT user's own filters.
func (c *Client) RemoveMQTTACL(ctx context.Context, name, filter string) (*MQTTACL, error) {
	var a MQTTACL
	return &a, c.do(ctx, http.MethodDelete, mqttACLPath(name)+"?"+url.Values{"filter": {filter}}.Encode(), nil, &a)
}
