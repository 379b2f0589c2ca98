package main

import (
	"flag"
	"io"
	"log/slog"
)

// The logs of the commands that run until stopped (up, cluster start,
// agent start, helper) are for machines, on stderr: `--log-format json`
// writes one JSON object per line (slog's JSON handler: "time" in RFC
// 3339, "level", "msg", then the event's own fields; docs/cli.md), and
// `--debug` adds the debug events. `vnet up` tells the person at the
// terminal its steps on stdout (upprint.go), so its text log shows only
// warnings and errors unless --debug; its JSON log has every event from
// info up, as the daemons' logs do. No log value is a secret: tokens,
// passwords, keys and certificates are never logged
// (TestLogsHoldNoSecrets).

// logFlags are a command's --debug and --log-format.
type logFlags struct {
	debug  *bool
	format *string
}

func addLogFlags(fs *flag.FlagSet) logFlags {
	return logFlags{
		debug:  fs.Bool("debug", false, "verbose logs: debug events too"),
		format: fs.String("log-format", "text", "logs on stderr: text, or json (one object per line, for machines; fields in docs/cli.md)"),
	}
}

// check refuses a --log-format the command at path does not write.
func (l logFlags) check(path string) error { return checkLogFormat(path, *l.format) }

func checkLogFormat(path, format string) error {
	if format != "text" && format != "json" {
		return usagef(path, "--log-format %q: use text or json", format)
	}
	return nil
}

// logger is the command's log on w, checked by check. quiet: a text log
// without --debug holds only warnings and errors (vnet up, whose steps
// go to stdout).
func (l logFlags) logger(w io.Writer, quiet bool) *slog.Logger {
	return newLogger(*l.format, *l.debug, quiet, w)
}

func newLogger(format string, debug, quiet bool, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	switch {
	case debug:
		opts.Level = slog.LevelDebug
	case quiet && format != "json":
		opts.Level = slog.LevelWarn
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
