package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/hub"
)

func (c *cli) status(ctx context.Context, args []string) error {
	if err := c.noArgs("status", args); err != nil {
		return err
	}
	return fetchAndPrint(ctx, c, c.client.Health, printHealth)
}

// fetchAndPrint makes one request within the timeout and prints the
// answer: as JSON with --json, else with print.
func fetchAndPrint[T any](ctx context.Context, c *cli, fetch func(context.Context) (T, error), print func(io.Writer, T)) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	v, err := fetch(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(v)
	}
	print(c.out, v)
	return nil
}

func (c *cli) ls(ctx context.Context, args []string) error {
	fs := c.flags("ls")
	kind := fs.String("kind", "", "")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("ls takes no arguments (use --kind KIND)")
	}
	if err := c.connect(); err != nil {
		return err
	}
	fetch := func(ctx context.Context) (api.Entities, error) {
		all, err := c.client.Entities(ctx)
		kept := all[:0]
		for _, e := range all {
			if *kind == "" || e.ID.Kind() == *kind {
				kept = append(kept, e)
			}
		}
		return api.Entities{Entities: kept}, err
	}
	return fetchAndPrint(ctx, c, fetch, func(w io.Writer, es api.Entities) { printEntities(w, es.Entities) })
}

func (c *cli) get(ctx context.Context, args []string) error {
	id, _, err := c.idArgs("get", args, 1, 1)
	if err != nil {
		return err
	}
	return fetchAndPrint(ctx, c, func(ctx context.Context) (*hub.Snapshot, error) { return c.client.Entity(ctx, id) }, printEntity)
}

func (c *cli) set(ctx context.Context, args []string) error {
	fs := c.flags("set")
	wait := fs.Bool("wait", false, "")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usagef("set ID ATTR=VALUE...")
	}
	return c.command(ctx, pos[0], hub.ActionSet, pos[1:], *wait)
}

func (c *cli) do(ctx context.Context, args []string) error {
	fs := c.flags("do")
	wait := fs.Bool("wait", false, "")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usagef("do ID ACTION [ARG=VALUE...]")
	}
	return c.command(ctx, pos[0], pos[1], pos[2:], *wait)
}

// command sends an action with arguments typed by the entity's schema.
func (c *cli) command(ctx context.Context, id, action string, pairs []string, wait bool) error {
	kv := make([][2]string, 0, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return usagef("%q: want NAME=VALUE", p)
		}
		kv = append(kv, [2]string{k, v})
	}
	if err := c.connect(); err != nil {
		return err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	e, err := c.client.Entity(ctx, id)
	if err != nil {
		return err
	}
	var specs []hub.AttrSpec
	for _, a := range e.Actions {
		if a.Name == action {
			specs = a.Args
		}
	}
	req := api.CommandRequest{Entity: id, Action: action, Args: map[string]json.RawMessage{}}
	if wait {
		req.Wait = api.WaitCommit
	}
	for _, p := range kv {
		req.Args[p[0]] = encodeArg(specs, p[0], p[1])
	}
	resp, err := c.client.Command(ctx, req)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	if resp.State != nil {
		for _, p := range kv {
			if v, ok := resp.State.Attrs[p[0]]; ok {
				fmt.Fprintf(c.out, "%s: %s = %s\n", id, p[0], v)
			}
		}
	}
	if action != hub.ActionSet || resp.State == nil {
		state := ""
		if resp.State != nil {
			state = ": " + stateLine(*resp.State)
		}
		fmt.Fprintf(c.out, "%s: %s done (audit #%d)%s\n", id, action, resp.AuditID, state)
	}
	return nil
}

// encodeArg turns text into the JSON the schema asks for. What does not
// parse is sent as a string, so that the daemon's error names the field.
func encodeArg(specs []hub.AttrSpec, name, text string) json.RawMessage {
	for i := range specs {
		if specs[i].Name != name {
			continue
		}
		switch specs[i].Type {
		case hub.TypeNumber:
			if f, err := strconv.ParseFloat(text, 64); err == nil {
				return json.RawMessage(strconv.FormatFloat(f, 'g', -1, 64))
			}
		case hub.TypeBool:
			if v, err := specs[i].ParseText(text); err == nil {
				return json.RawMessage(strconv.FormatBool(v.BoolValue()))
			}
		}
	}
	b, _ := json.Marshal(text)
	return b
}

func (c *cli) history(ctx context.Context, args []string) error {
	fs := c.flags("history")
	attr := fs.String("attr", "", "")
	since := fs.String("since", "24h", "")
	step := fs.Duration("step", 0, "")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("history ID [--attr A] [--since 24h] [--step 5m]")
	}
	d, err := parseSince(*since)
	if err != nil {
		return usagef("--since: %v", err)
	}
	if err := c.connect(); err != nil {
		return err
	}
	return fetchAndPrint(ctx, c, func(ctx context.Context) (*api.History, error) {
		return c.client.History(ctx, pos[0], api.HistoryQuery{Attr: *attr, Since: d, Step: *step})
	}, printHistory)
}

func (c *cli) watch(ctx context.Context, args []string) error {
	fs := c.flags("watch")
	ids, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := c.connect(); err != nil {
		return err
	}
	enc := json.NewEncoder(c.out)
	return c.client.Watch(ctx, ids, func(ev hub.Event) error {
		if c.json {
			return enc.Encode(ev)
		}
		printEvent(c.out, &ev)
		return nil
	}, func(o api.Overflow) {
		fmt.Fprintf(c.errOut, "hearth: %d events were dropped: this terminal could not keep up\n", o.Dropped)
	})
}

func (c *cli) audit(ctx context.Context, args []string) error {
	fs := c.flags("audit")
	entity := fs.String("entity", "", "")
	principal := fs.String("principal", "", "")
	since := fs.String("since", "", "")
	limit := fs.Int("limit", 50, "")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("audit takes no arguments (use --entity ID)")
	}
	q := api.AuditQuery{Entity: *entity, Principal: *principal, Limit: *limit}
	if *since != "" {
		if q.Since, err = parseSince(*since); err != nil {
			return usagef("--since: %v", err)
		}
	}
	if err := c.connect(); err != nil {
		return err
	}
	return fetchAndPrint(ctx, c, func(ctx context.Context) (api.Audit, error) {
		recs, err := c.client.Audit(ctx, q)
		return api.Audit{Records: recs}, err
	}, func(w io.Writer, a api.Audit) { printAudit(w, a.Records) })
}

// noArgs parses flags for a command that takes no arguments and connects.
func (c *cli) noArgs(name string, args []string) error {
	pos, err := parse(c.flags(name), args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("%s takes no arguments", name)
	}
	return c.connect()
}

// idArgs parses a command whose first argument is an entity ID.
func (c *cli) idArgs(name string, args []string, lo, hi int) (string, []string, error) {
	pos, err := parse(c.flags(name), args)
	if err != nil {
		return "", nil, err
	}
	if len(pos) < lo || len(pos) > hi {
		return "", nil, usagef("%s ID", name)
	}
	if _, err := hub.ParseID(pos[0]); err != nil {
		return "", nil, usagef("%v", err)
	}
	return pos[0], pos[1:], c.connect()
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseSince reads 90s, 24h, 7d.
func parseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a duration such as 90m, 24h or 7d, got %q", s)
	}
	return d, nil
}

func sortedAttrs(m map[string]hub.Value) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
