package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hearth-hub/hearth/daemon/api"
)

// mqttUsage is the mqtt command's synopsis.
const mqttUsage = "mqtt user add NAME [--role device|integration|admin] | mqtt user ls | mqtt user rm NAME | " +
	"mqtt acl NAME [--add FILTER [--read] [--write] | --rm FILTER]"

// mqtt manages the embedded broker's accounts:
//
//	hearth mqtt user add NAME [--role device|integration|admin]
//	hearth mqtt user ls
//	hearth mqtt user rm NAME
//	hearth mqtt acl NAME [--add FILTER [--read] [--write] | --rm FILTER]
func (c *cli) mqtt(ctx context.Context, args []string) error {
	fs := c.flags("mqtt")
	role := fs.String("role", "", "")
	var acl aclFlags
	fs.StringVar(&acl.add, "add", "", "")
	fs.StringVar(&acl.rm, "rm", "", "")
	fs.BoolVar(&acl.read, "read", false, "")
	fs.BoolVar(&acl.write, "write", false, "")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 2 && pos[0] == "acl" && *role == "" {
		return c.mqttACL(ctx, pos[1], acl)
	}
	if len(pos) < 2 || pos[0] != "user" || acl != (aclFlags{}) {
		return usagef(mqttUsage)
	}
	if err := c.connect(); err != nil {
		return err
	}
	switch {
	case pos[1] == "ls" && len(pos) == 2:
		return fetchAndPrint(ctx, c, func(ctx context.Context) (api.MQTTUsers, error) {
			us, err := c.client.MQTTUsers(ctx)
			return api.MQTTUsers{Users: us}, err
		}, func(w io.Writer, us api.MQTTUsers) {
			t := table(w)
			fmt.Fprintln(t, "USER\tROLE")
			for _, u := range us.Users {
				fmt.Fprintf(t, "%s\t%s\n", u.Name, u.Role)
			}
			t.Flush()
		})
	case pos[1] == "add" && len(pos) == 3:
		return fetchAndPrint(ctx, c, func(ctx context.Context) (*api.MQTTUser, error) {
			return c.client.AddMQTTUser(ctx, pos[2], *role)
		}, func(w io.Writer, u *api.MQTTUser) {
			fmt.Fprintf(w, "mqtt user %s (%s) added. Its password, shown this once:\n%s\n", u.Name, u.Role, u.Password)
		})
	case pos[1] == "rm" && len(pos) == 3:
		ctx, cancel := c.withTimeout(ctx)
		defer cancel()
		if err := c.client.RemoveMQTTUser(ctx, pos[2]); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "mqtt user %s removed\n", pos[2])
		return nil
	}
	return usagef(mqttUsage)
}

// aclFlags are mqtt acl's flags.
type aclFlags struct {
	add, rm     string
	read, write bool
}

// mqttACL shows a user's topic filters, or adds or removes one of its own.
// --add with neither --read nor --write grants both, as a mosquitto ACL
// file's "topic" line with no access does.
func (c *cli) mqttACL(ctx context.Context, name string, f aclFlags) error {
	switch {
	case f.add != "" && f.rm != "":
		return usagef("mqtt acl: --add and --rm together: give one")
	case f.add == "" && (f.read || f.write):
		return usagef("mqtt acl: --read and --write go with --add")
	}
	if err := c.connect(); err != nil {
		return err
	}
	return fetchAndPrint(ctx, c, func(ctx context.Context) (*api.MQTTACL, error) {
		switch {
		case f.add != "":
			if !f.read && !f.write {
				f.read, f.write = true, true
			}
			return c.client.AddMQTTACL(ctx, name, api.MQTTFilter{Filter: f.add, Read: f.read, Write: f.write})
		case f.rm != "":
			return c.client.RemoveMQTTACL(ctx, name, f.rm)
		}
		return c.client.MQTTACL(ctx, name)
	}, printMQTTACL)
}

func printMQTTACL(w io.Writer, a *api.MQTTACL) {
	fmt.Fprintf(w, "mqtt user %s (%s)\n", a.User, a.Role)
	t := table(w)
	fmt.Fprintln(t, "FILTER\tACCESS\tFROM")
	for _, g := range []struct {
		from string
		fs   []api.MQTTFilter
	}{{"role " + a.Role, a.RoleFilters}, {"own", a.Filters}} {
		for _, f := range g.fs {
			access := ""
			if f.Read {
				access += "r"
			}
			if f.Write {
				access += "w"
			}
			fmt.Fprintf(t, "%s\t%s\t%s\n", f.Filter, access, g.from)
		}
	}
	t.Flush()
}
