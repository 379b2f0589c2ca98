// Command vnet is VNet's one binary: the cluster daemon (`vnet cluster`),
// the admin CLI (`vnet ctl`), login, and the VNet client (`vnet up`).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
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
  vnet ctl users ls | rm NAME | reset NAME   list users; remove one; a new one-time token for one
  vnet ctl audit [--since 1h] [--user U]     session events: who reached which app, bytes, errors
  vnet ctl status                            cluster name, version, CA pin
  vnet ctl tokens add --type=app [--ttl=1h]  a join token for App Service agents (tokens ls: list)
  vnet agent start --config agent.yaml       App Service agent: serves its apps through a reverse tunnel

User side:
  vnet login --proxy=HOST --user=NAME --token-file=FILE [--ca-pin=sha256:...]   first login; sets a password
  vnet login --proxy=HOST --user=NAME [--password-file=FILE]                    later logins
  vnet passwd                                change your password
  vnet logout [--proxy=HOST]                 remove a login (every login without --proxy)
  vnet apps                                  TCP apps of every logged-in cluster
  sudo vnet up                               start VNet in the foreground (Linux); the engine runs as you
  sudo vnet down                             stop VNet, or undo what a crashed one left
  vnet helper                                VNet's root helper as a service (systemd, Linux)
  vnet status                                what the running VNet serves, and any problem
  vnet diag [NAME] [--port P]                what VNet depends on, and why NAME does or does not work

  vnet version | completion bash|zsh | help COMMAND

Global flags, before or after the command: --config FILE, --identity DIR,
--state-dir DIR, --debug, --log-format text|json (for the commands that
have them).
Run 'vnet COMMAND --help' for a command's flags and examples.
`

// stdout and stderr are where commands write; tests replace them.
var (
	stdout io.Writer = osStdout
	stderr io.Writer = osStderr
)

var osStdout, osStderr io.Writer = os.Stdout, os.Stderr

// defaultStateDir is where `vnet up` keeps its state, pid file and
// control socket.
const defaultStateDir = "/var/lib/vnet/client"

type command func(ctx context.Context, args []string) error

// commands are vnet's commands; main is the only reader (runHelp refers
// back to it).
var commands map[string]command

func init() {
	commands = map[string]command{
		"cluster":    runCluster,
		"agent":      runAgent,
		"ctl":        runCtl,
		"login":      runLogin,
		"logout":     runLogout,
		"passwd":     runPasswd,
		"apps":       runApps,
		"up":         runUp,
		"down":       runDown,
		"helper":     runHelper,
		"status":     runStatus,
		"diag":       runDiag,
		"version":    runVersion,
		"completion": runCompletion,
		"help":       runHelp,
	}
}

// daemons are the commands that run until stopped: the ones that serve
// profiles under VNET_PPROF_ADDR (pprof.go).
var daemons = map[string]bool{"up": true, "cluster": true, "agent": true}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code: 0, 1 when
// the command failed, 2 for a usage error. Errors are one line on stderr.
func run(ctx context.Context, args []string) int {
	args, err := placeGlobals(args)
	if err == nil && len(args) > 0 {
		switch {
		case isHelpFlag(args[0]):
			args[0] = "help"
		case args[0] == "--version" || args[0] == "-version":
			args[0] = "version"
		}
	}
	if err == nil {
		err = runCommand(ctx, args)
	}
	switch {
	case err == nil || errors.Is(err, errHelpShown):
		return 0
	case isUsage(err):
		fmt.Fprintln(stderr, "ERROR:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "ERROR:", oneLine(err))
		return 1
	}
}

func runCommand(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return &usageError{fmt.Sprintf("vnet: unknown command %q (see 'vnet --help')", args[0])}
	}
	// Under sudo vnet up the root helper serves the address and the engine
	// it starts the next port (uppprof_linux.go).
	if daemons[args[0]] {
		if err := startPprof(); err != nil { // pprof.go: VNET_PPROF_ADDR, a debugging aid
			return err
		}
	}
	return cmd(ctx, args[1:])
}

// runHelp prints vnet's help, or a command's: `vnet help ctl get` is
// `vnet ctl get --help`.
func runHelp(ctx context.Context, args []string) error {
	args, err := parseArgs(newFlags("help"), args, 0, -1)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	path := strings.Join(args, " ")
	if _, ok := topics[path]; !ok {
		return &usageError{fmt.Sprintf("vnet help: no command %q (see 'vnet --help')", path)}
	}
	return runCommand(ctx, append(slices.Clone(args), "--help"))
}

// runVersion prints the version and the commit.
func runVersion(_ context.Context, args []string) error {
	if err := noArgs(newFlags("version"), args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "vnet %s (commit %s)\n", version.Number, version.Commit())
	return nil
}

// oneLine is the one line a person sees for err: without gRPC's framing,
// a failed connection in words.
func oneLine(err error) string { return connLine(api.ErrorLine(err)) }
