// Command hearth is the command line for hearthd's local API.
//
// Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage,
// 3 the daemon could not be reached.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hearth-hub/hearth/daemon/api"
)

const (
	exitOK          = 0
	exitDaemon      = 1
	exitUsage       = 2
	exitUnreachable = 3

	systemSocket = "/run/hearthd/hearthd.sock"
)

const usage = `usage: hearth [flags] COMMAND [args]

Commands:
  status                       the daemon's health
  ls [--kind KIND]             every entity and its state
  get ID                       one entity: attributes, types, actions
  set ID ATTR=VALUE...         change writable attributes
  do ID ACTION [ARG=VALUE...]  run an entity's action
  history ID [--attr A] [--since 24h] [--step 5m]
  watch [ID...]                stream state changes until Ctrl-C
  audit [--entity ID] [--principal P] [--since D] [--limit N]
  lock ID | unlock ID          lock or unlock a lock; returns when the bolt is there
  thermostat ID [--mode M] [--fan F] [--target C] [--low C --high C]
  thermostat ID --preset home|away|sleep [--until TIME | --for D]
  mqtt user add NAME [--role device|integration|admin]   prints its password once
  mqtt user ls | mqtt user rm NAME
  mqtt acl NAME [--add FILTER [--read] [--write] | --rm FILTER]
                               a user's topic filters: its role's and its own;
                               --add alone grants read and write

Flags (anywhere on the line):
  --socket PATH   the daemon's socket (else $HEARTH_SOCKET, else ` + systemSocket + `)
  --addr H:P      use the TCP API instead, with --token-file
  --token-file F  the TCP API's bearer token
  --json          print the API's JSON instead of tables
  --timeout D     give up after D (default 10s; watch has none)

Exit codes: 0 ok, 1 error from the daemon, 2 usage, 3 daemon unreachable.
`

// cli is one invocation.
type cli struct {
	socket, addr, tokenFile string
	json                    bool
	timeout                 time.Duration
	out, errOut             io.Writer
	client                  *api.Client
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	c := &cli{out: out, errOut: errOut, timeout: 10 * time.Second}
	if len(args) == 0 {
		fmt.Fprint(errOut, usage)
		return exitUsage
	}
	// The command is the first word that is not a global flag.
	var cmd string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" || a == "--help" || a == "help" {
			fmt.Fprint(out, usage)
			return exitOK
		}
		if cmd == "" && !strings.HasPrefix(a, "-") {
			cmd = a
			continue
		}
		rest = append(rest, a)
		if takesValue(a) && i+1 < len(args) {
			i++
			rest = append(rest, args[i])
		}
	}
	if cmd == "" {
		fmt.Fprint(errOut, usage)
		return exitUsage
	}
	err := c.dispatch(ctx, cmd, rest)
	return c.exitCode(err)
}

func (c *cli) exitCode(err error) int {
	var ue *usageError
	var ae *api.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(c.errOut, "hearth: %s\n(run 'hearth --help' for usage)\n", ue.msg)
		return exitUsage
	case errors.Is(err, api.ErrUnreachable):
		fmt.Fprintf(c.errOut, "hearth: %v\n(is hearthd running? try --socket PATH or $HEARTH_SOCKET)\n", err)
		return exitUnreachable
	case errors.As(err, &ae):
		where := ""
		if ae.Field != "" {
			where = " [field " + ae.Field + "]"
		}
		fmt.Fprintf(c.errOut, "hearth: %s (%s)%s\n", ae.Message, ae.Code, where)
		return exitDaemon
	case errors.Is(err, context.Canceled):
		return exitOK
	default:
		fmt.Fprintf(c.errOut, "hearth: %v\n", err)
		return exitDaemon
	}
}

// takesValue reports whether a is a global flag whose value is the next word.
func takesValue(a string) bool {
	switch strings.TrimLeft(a, "-") {
	case "socket", "addr", "token-file", "timeout", "mode", "fan", "target", "low", "high", "preset", "until", "for", "since", "step", "attr", "entity", "principal", "limit", "kind", "role":
		return true
	}
	return false
}

// flags returns a flag set with the global flags on it.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.socket, "socket", c.socket, "")
	fs.StringVar(&c.addr, "addr", c.addr, "")
	fs.StringVar(&c.tokenFile, "token-file", c.tokenFile, "")
	fs.BoolVar(&c.json, "json", c.json, "")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "")
	return fs
}

// parse parses flags and positional arguments in any order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func (c *cli) connect() error {
	if c.addr != "" {
		if c.tokenFile == "" {
			return usagef("--addr needs --token-file")
		}
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return usagef("token file: %v", err)
		}
		c.client = api.NewTCP(c.addr, strings.TrimSpace(string(b)))
		return nil
	}
	sock := c.socket
	if sock == "" {
		sock = os.Getenv("HEARTH_SOCKET")
	}
	if sock == "" {
		sock = systemSocket
	}
	c.client = api.NewUnix(sock)
	return nil
}

func (c *cli) dispatch(ctx context.Context, cmd string, args []string) error {
	commands := map[string]func(context.Context, []string) error{
		"status": c.status, "ls": c.ls, "get": c.get, "set": c.set, "do": c.do,
		"history": c.history, "watch": c.watch, "audit": c.audit,
		"lock": c.lock, "unlock": c.unlock, "thermostat": c.thermostat, "mqtt": c.mqtt,
	}
	fn, ok := commands[cmd]
	if !ok {
		return usagef("unknown command %q", cmd)
	}
	return fn(ctx, args)
}

// withTimeout bounds one request.
func (c *cli) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}
