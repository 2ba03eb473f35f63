package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hearth-hub/hearth/daemon/api"
)

// mqtt manages the embedded broker's accounts:
//
//	hearth mqtt user add NAME [--role device|integration|admin]
//	hearth mqtt user ls
//	hearth mqtt user rm NAME
func (c *cli) mqtt(ctx context.Context, args []string) error {
	fs := c.flags("mqtt")
	role := fs.String("role", "", "")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 || pos[0] != "user" {
		return usagef("mqtt user add NAME [--role device|integration|admin] | mqtt user ls | mqtt user rm NAME")
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
	return usagef("mqtt user add NAME [--role device|integration|admin] | mqtt user ls | mqtt user rm NAME")
}
