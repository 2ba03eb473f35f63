package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-hub/hearth/hub"
)

// ErrUnreachable wraps every failure to reach the daemon at all, so that
// callers can tell "hearthd is not running" from "hearthd said no".
var ErrUnreachable = errors.New("daemon unreachable")

// Client talks to hearthd's API.
type Client struct {
	hc    *http.Client
	base  string // "http://hearthd" for a socket, "http://host:port" for TCP
	token string
	where string // for messages
}

// NewUnix returns a client for the API on a unix socket.
func NewUnix(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{hc: &http.Client{Transport: tr}, base: "http://hearthd", where: socket}
}

// NewTCP returns a client for the API on a TCP address with a bearer token.
func NewTCP(addr, token string) *Client {
	return &Client{hc: &http.Client{}, base: "http://" + addr, token: token, where: addr}
}

// Health is GET /v1/health.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	return &h, c.do(ctx, http.MethodGet, "/v1/health", nil, &h)
}

// Entities is GET /v1/entities.
func (c *Client) Entities(ctx context.Context) ([]hub.Snapshot, error) {
	var es Entities
	err := c.do(ctx, http.MethodGet, "/v1/entities", nil, &es)
	return es.Entities, err
}

// Entity is GET /v1/entities/{id}.
func (c *Client) Entity(ctx context.Context, id string) (*hub.Snapshot, error) {
	var s hub.Snapshot
	return &s, c.do(ctx, http.MethodGet, "/v1/entities/"+url.PathEscape(id), nil, &s)
}

// Command is POST /v1/commands.
func (c *Client) Command(ctx context.Context, req CommandRequest) (*CommandResponse, error) {
	var r CommandResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/commands", req, &r)
}

// HistoryQuery selects history; zero fields take the daemon's defaults.
type HistoryQuery struct {
	Attr     string
	Since    time.Duration // used when From is zero
	From, To time.Time
	Step     time.Duration
}

// History is GET /v1/entities/{id}/history.
func (c *Client) History(ctx context.Context, id string, q HistoryQuery) (*History, error) {
	v := url.Values{}
	if q.Attr != "" {
		v.Set("attr", q.Attr)
	}
	if q.Since > 0 {
		v.Set("since", q.Since.String())
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.Format(time.RFC3339Nano))
	}
	if q.Step > 0 {
		v.Set("step", q.Step.String())
	}
	var h History
	return &h, c.do(ctx, http.MethodGet, "/v1/entities/"+url.PathEscape(id)+"/history?"+v.Encode(), nil, &h)
}

// AuditQuery selects audit records.
type AuditQuery struct {
	Entity, Principal string
	Since             time.Duration
	Before            int64
	Limit             int
}

// Audit is GET /v1/audit, newest first.
func (c *Client) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	v := url.Values{}
	if q.Entity != "" {
		v.Set("entity", q.Entity)
	}
	if q.Principal != "" {
		v.Set("principal", q.Principal)
	}
	if q.Since > 0 {
		v.Set("since", q.Since.String())
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var a Audit
	err := c.do(ctx, http.MethodGet, "/v1/audit?"+v.Encode(), nil, &a)
	return a.Records, err
}

// Watch streams state changes (GET /v1/events) to fn until ctx ends, fn
// returns an error, or the daemon closes the stream. onOverflow, if not
// nil, hears of events the daemon had to drop for this slow client.
func (c *Client) Watch(ctx context.Context, ids []string, fn func(hub.Event) error, onOverflow func(Overflow)) error {
	v := url.Values{}
	for _, id := range ids {
		v.Add("entity", id)
	}
	resp, err := c.send(ctx, http.MethodGet, "/v1/events?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	var name string
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if err := dispatch(name, data, fn, onOverflow); err != nil {
				return err
			}
			name, data = "", data[:0]
		case bytes.HasPrefix(line, []byte("event:")):
			name = strings.TrimSpace(string(line[6:]))
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data, bytes.TrimSpace(line[5:])...)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %s: stream: %v", ErrUnreachable, c.where, err)
	}
	return fmt.Errorf("%w: %s: the daemon closed the stream", ErrUnreachable, c.where)
}

func dispatch(name string, data []byte, fn func(hub.Event) error, onOverflow func(Overflow)) error {
	switch name {
	case "state":
		var ev hub.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
		return fn(ev)
	case "overflow":
		var o Overflow
		if err := json.Unmarshal(data, &o); err == nil && onOverflow != nil {
			onOverflow(o)
		}
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, c.where, err)
	}
	return resp, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error != nil {
		eb.Error.Status = resp.StatusCode
		return eb.Error
	}
	return &Error{Status: resp.StatusCode, Code: CodeInternal, Message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))}
}

// MQTTUsers lists the broker's accounts.
func (c *Client) MQTTUsers(ctx context.Context) ([]MQTTUser, error) {
	var u MQTTUsers
	err := c.do(ctx, http.MethodGet, "/v1/mqtt/users", nil, &u)
	return u.Users, err
}

// AddMQTTUser creates an account and returns it with its password.
func (c *Client) AddMQTTUser(ctx context.Context, name, role string) (*MQTTUser, error) {
	var u MQTTUser
	return &u, c.do(ctx, http.MethodPost, "/v1/mqtt/users", MQTTUser{Name: name, Role: role}, &u)
}

// RemoveMQTTUser deletes an account.
func (c *Client) RemoveMQTTUser(ctx context.Context, name string) error {
	var u MQTTUser
	return c.do(ctx, http.MethodDelete, "/v1/mqtt/users/"+url.PathEscape(name), nil, &u)
}
