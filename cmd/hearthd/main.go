// Command hearthd is Hearth's home-hub daemon.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hearth-hub/hearth/daemon"
)

const defaultConfig = "/etc/hearthd/hearthd.yaml"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fset := flag.NewFlagSet("hearthd", flag.ContinueOnError)
	config := fset.String("config", defaultConfig, "configuration `file`")
	check := fset.String("check-config", "", "check the configuration `file` and exit: 0 if it is valid, 1 with its errors if not")
	version := fset.Bool("version", false, "print the version and exit")
	list := fset.Bool("list-hardware", false, "print the I2C buses and GPIO lines found on this machine and exit")
	fset.Usage = func() {
		fmt.Fprintf(fset.Output(), "usage: hearthd [--config FILE] | --check-config FILE | --list-hardware | --version\n\n")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "hearthd: unexpected argument %q\n", fset.Arg(0))
		return 2
	}
	switch {
	case *version:
		fmt.Println("hearthd", daemon.Version)
		return 0
	case *list:
		if err := daemon.ListHardware(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "hearthd:", err)
			return 1
		}
		return 0
	case *check != "":
		if _, err := daemon.LoadConfig(*check); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%s: ok\n", *check)
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := daemon.Run(ctx, daemon.RunOptions{ConfigPath: *config}); err != nil {
		fmt.Fprintln(os.Stderr, "hearthd:", err)
		return 1
	}
	return 0
}
