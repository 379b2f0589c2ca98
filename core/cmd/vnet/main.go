// Command vnet is VNet's one binary: the cluster daemon (`vnet cluster`),
// the admin CLI (`vnet ctl`), login, and the VNet client (`vnet up`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/version"
)

const usage = `vnet: reach private TCP apps by name through a cluster's proxy.

Cluster side:
  vnet cluster start --config cluster.yaml   run Auth + Proxy + App Service
  vnet ctl create [-f] FILE                  create a resource (vnet_config, app, role, user)
  vnet ctl get KIND[/NAME] [--format F]      show resources (yaml, json or text)
  vnet ctl edit KIND[/NAME]                  edit a resource in $EDITOR
  vnet ctl rm KIND/NAME                      remove a resource (rm vnet_config: back to the default)
  vnet ctl users add NAME [--roles=a,b]      add a user; prints a one-time login token
  vnet ctl users ls | users rm NAME          list users; remove one (their certificates stop working)
  vnet ctl audit [--since 1h] [--user U]     session events: who reached which app, bytes, errors
  vnet ctl status                            cluster name, version, CA pin
  vnet ctl tokens add --type=app [--ttl=1h]  a join token for App Service agents (tokens ls: list)
  vnet agent start --config agent.yaml       App Service agent: serves its apps through a reverse tunnel

User side:
  vnet login --proxy=HOST:PORT --user=NAME --token=TOKEN [--ca-pin=sha256:...]   first login; sets a password
  vnet login --proxy=HOST:PORT --user=NAME [--password-file=FILE]                 later logins
  vnet logout [--proxy=HOST:PORT]            remove a login (every login without --proxy)
  vnet apps                                  TCP apps of every logged-in cluster
  sudo vnet up                               start VNet in the foreground (Linux)
  vnet status                                what the running VNet serves, and any problem
  vnet diag [NAME] [--port P]                what VNet depends on, and why NAME does or does not work

Run 'vnet COMMAND -h' for a command's flags.
`

type command func(ctx context.Context, args []string) error

var commands = map[string]command{
	"cluster": runCluster,
	"agent":   runAgent,
	"ctl":     runCtl,
	"login":   runLogin,
	"logout":  runLogout,
	"apps":    runApps,
	"up":      runUp,
	"status":  runStatus,
	"diag":    runDiag,
	"version": func(context.Context, []string) error { fmt.Println("vnet", version.Number); return nil },
}

// daemons are the commands that run until stopped: the ones that serve
// profiles under VNET_PPROF_ADDR (pprof.go).
var daemons = map[string]bool{"up": true, "cluster": true, "agent": true}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Print(usage)
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "ERROR: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if daemons[os.Args[1]] {
		err = startPprof() // pprof.go: VNET_PPROF_ADDR, a debugging aid
	}
	if err == nil {
		err = cmd(ctx, os.Args[2:])
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "ERROR:", oneLine(err))
		os.Exit(1)
	}
}

// oneLine is the one line a person sees for err.
func oneLine(err error) string { return api.ErrorLine(err) }

// newFlags returns a flag set for a subcommand whose errors go to the
// caller instead of exiting.
func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (`vnet ctl create -f file` and `create file -f`).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newLogger(debug bool, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
