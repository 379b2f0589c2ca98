package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vnetproject/vnet/core/api"
)

// What every command shares: its help (-h, --help, `vnet help CMD`), which
// needs no config and no cluster and exits 0; usage errors, one line and
// exit 2; and the global flags, accepted before or after the command.

// usageError is a command line that does not parse: main prints its one
// line and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef is a usage error of the command at path ("ctl get"), with where
// to read its help.
func usagef(path, format string, args ...any) error {
	return &usageError{fmt.Sprintf("vnet %s: %s (see 'vnet %s --help')", path, fmt.Sprintf(format, args...), path)}
}

// isUsage reports whether err is a usage error.
func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

// errHelpShown ends a command whose help was asked for and printed.
var errHelpShown = errors.New("help shown")

// newFlags returns the flag set of the command at path ("up", "ctl get");
// parse it with parseArgs or noArgs, which print its help or turn its
// errors into usage errors.
func newFlags(path string) *flag.FlagSet {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses flags that may come before or after the positional
// arguments (`vnet ctl create -f file` and `create file -f`), and returns
// the positional ones; there must be between min and max of them (max -1:
// any number).
func parseArgs(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printHelp(fs.Name(), fs)
				return nil, errHelpShown
			}
			return nil, usagef(fs.Name(), "%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case len(pos) > max && max >= 0:
		return nil, usagef(fs.Name(), "unexpected argument %q", pos[max])
	case len(pos) < min:
		return nil, usagef(fs.Name(), "missing argument: %s", topics[fs.Name()].use)
	}
	return pos, nil
}

// noArgs parses a command that takes flags only.
func noArgs(fs *flag.FlagSet, args []string) error {
	_, err := parseArgs(fs, args, 0, 0)
	return err
}

// subcommand reads the word after a command group ("ctl", "ctl users"):
// its help, or the name of a subcommand in names and the rest.
func subcommand(path string, args []string, names []string) (string, []string, error) {
	switch {
	case len(args) == 0:
		return "", nil, usagef(path, "which command? one of %s", strings.Join(names, ", "))
	case isHelpFlag(args[0]):
		printHelp(path, nil)
		return "", nil, errHelpShown
	case !slices.Contains(names, args[0]):
		return "", nil, usagef(path, "unknown command %q (one of %s)", args[0], strings.Join(names, ", "))
	}
	return args[0], args[1:], nil
}

func isHelpFlag(s string) bool { return s == "-h" || s == "--help" || s == "-help" }

// printHelp writes the help of the command at path to stdout: its
// synopsis, what it does, its flags (fs, when it has any) and examples.
func printHelp(path string, fs *flag.FlagSet) {
	t := topics[path]
	fmt.Fprintf(stdout, "usage: %s\n\n%s\n", t.use, strings.TrimSpace(t.about))
	if fs != nil {
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(stdout, "\nFlags:")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
	}
	if len(t.examples) > 0 {
		fmt.Fprintln(stdout, "\nExamples:")
		for _, e := range t.examples {
			fmt.Fprintln(stdout, "  "+e)
		}
	}
}

// globalFlags are accepted before or after the command (`vnet --config
// c.yaml ctl get apps` and `vnet ctl get apps --config c.yaml`); each
// command that has one declares it in its own flag set, the others refuse
// it as any unknown flag.
var globalFlags = map[string]bool{ // name: takes a value
	"config":     true,
	"identity":   true,
	"state-dir":  true,
	"debug":      false,
	"log-format": true,
}

// placeGlobals moves the global flags, wherever they are, to where the
// command's own flag set reads them: after "ctl" for ctl (its
// subcommands have flags of their own), at the end for the others. "--"
// ends the search.
func placeGlobals(args []string) ([]string, error) {
	var globals, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesValue, ok := globalFlags[name]
		if !strings.HasPrefix(a, "-") || !ok {
			rest = append(rest, a)
			continue
		}
		globals = append(globals, a)
		if takesValue && !hasValue {
			if i+1 == len(args) {
				return nil, &usageError{fmt.Sprintf("vnet: flag needs an argument: %s", a)}
			}
			i++
			globals = append(globals, args[i])
		}
	}
	if len(globals) == 0 || len(rest) == 0 {
		return append(rest, globals...), nil
	}
	at := len(rest)
	if rest[0] == "ctl" {
		at = 1
	}
	if i := slices.Index(rest, "--"); i >= 0 && i < at {
		at = i
	}
	return slices.Concat(rest[:at], globals, rest[at:]), nil
}

// checkFormat refuses a --format the command at path does not write.
func checkFormat(path, format string, known ...string) error {
	if !slices.Contains(known, format) {
		return usagef(path, "--format %q: use %s", format, strings.Join(known, " or "))
	}
	return nil
}

// timeText is how a time is shown to a person (api.TimeText); JSON
// output uses RFC 3339 (encoding/json's format for time.Time).
func timeText(t time.Time) string { return api.TimeText(t) }

// writeJSON writes v as indented JSON: the --format json of every
// command (field names in docs/cli.md).
func writeJSON(v any) error {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
