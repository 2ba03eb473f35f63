package main

import (
	"context"
	"strconv"
	"time"
)

// lock and unlock run a lock's action; they return once the bolt is at
// its switch (or failed to get there) and the audit row is committed.
func (c *cli) lock(ctx context.Context, args []string) error { return c.lockAction(ctx, "lock", args) }
func (c *cli) unlock(ctx context.Context, args []string) error {
	return c.lockAction(ctx, "unlock", args)
}

func (c *cli) lockAction(ctx context.Context, action string, args []string) error {
	fs := c.flags(action)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("%s ID", action)
	}
	// A bolt takes seconds to travel: allow for it beyond the usual timeout.
	c.timeout += 30 * time.Second
	return c.command(ctx, pos[0], action, nil, false)
}

// thermostat changes a thermostat's mode, fan and setpoints in one command,
// or applies a preset.
func (c *cli) thermostat(ctx context.Context, args []string) error {
	fs := c.flags("thermostat")
	mode := fs.String("mode", "", "")
	fan := fs.String("fan", "", "")
	target := fs.String("target", "", "")
	low := fs.String("low", "", "")
	high := fs.String("high", "", "")
	preset := fs.String("preset", "", "")
	until := fs.String("until", "", "")
	hold := fs.Duration("for", 0, "")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("thermostat ID [--mode off|heat|cool|auto|fan_only] [--fan auto|on|circulate] [--target C] [--low C --high C] | --preset home|away|sleep [--until TIME | --for D]")
	}
	if *preset != "" {
		var pairs []string
		pairs = append(pairs, "preset="+*preset)
		switch {
		case *until != "" && *hold != 0:
			return usagef("--until and --for: choose one")
		case *until != "":
			if _, err := time.Parse(time.RFC3339, *until); err != nil {
				return usagef("--until: want an RFC 3339 time such as 2026-12-24T18:00:00+01:00")
			}
			pairs = append(pairs, "until="+*until)
		case *hold > 0:
			pairs = append(pairs, "until="+time.Now().Add(*hold).Format(time.RFC3339))
		}
		return c.command(ctx, pos[0], "preset", pairs, false)
	}
	var pairs []string
	for _, kv := range [][2]string{{"mode", *mode}, {"fan_mode", *fan}, {"target", *target}, {"target_low", *low}, {"target_high", *high}} {
		if kv[1] == "" {
			continue
		}
		if kv[0] != "mode" && kv[0] != "fan_mode" {
			if _, err := strconv.ParseFloat(kv[1], 64); err != nil {
				return usagef("--%s: want a temperature in °C, got %q", kv[0], kv[1])
			}
		}
		pairs = append(pairs, kv[0]+"="+kv[1])
	}
	if len(pairs) == 0 {
		return usagef("thermostat %s: nothing to change (give --mode, --fan, --target, --low/--high or --preset)", pos[0])
	}
	return c.command(ctx, pos[0], "set", pairs, false)
}
