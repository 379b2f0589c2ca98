package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runTest runs the command line args as main does and returns its exit
// code and what it wrote.
func runTest(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	stdout, stderr = &o, &e
	t.Cleanup(func() { stdout, stderr = osStdout, osStderr })
	code = run(context.Background(), args)
	return code, o.String(), e.String()
}

// noConfig points every command at places that do not exist: help must
// not need them.
func noConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("VNET_HOME", filepath.Join(dir, "vnet"))
	t.Setenv("VNET_CLUSTER_CONFIG", filepath.Join(dir, "none.yaml"))
	t.Setenv("VNET_AGENT_CONFIG", filepath.Join(dir, "none.yaml"))
	t.Setenv("VNET_IDENTITY", "")
}

// TestHelp: every command's -h, --help and `vnet help CMD` exit 0 with no
// config and no cluster, and show the synopsis and the examples.
func TestHelp(t *testing.T) {
	noConfig(t)
	for name := range commands {
		if _, ok := topics[name]; !ok {
			t.Errorf("command %q has no help topic", name)
		}
	}
	for name := range ctlCommands {
		if _, ok := topics["ctl "+name]; !ok {
			t.Errorf("ctl command %q has no help topic", name)
		}
	}
	for path, tp := range topics {
		words := strings.Fields(path)
		for _, args := range [][]string{
			append(slices.Clone(words), "--help"),
			append(slices.Clone(words), "-h"),
			append([]string{"help"}, words...),
		} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out, errOut := runTest(t, args...)
				if code != 0 || errOut != "" {
					t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, errOut)
				}
				if !strings.Contains(out, "usage: "+tp.use) || !strings.Contains(out, "\nExamples:\n") || len(tp.examples) == 0 {
					t.Fatalf("help lacks the synopsis or examples:\n%s", out)
				}
				for _, ex := range tp.examples {
					if !strings.Contains(out, "  "+ex+"\n") {
						t.Errorf("example %q not shown", ex)
					}
				}
			})
		}
	}
	for _, args := range [][]string{nil, {"--help"}, {"-h"}, {"help"}} {
		if code, out, _ := runTest(t, args...); code != 0 || !strings.Contains(out, "vnet ctl create") {
			t.Errorf("vnet %v: exit %d, output %q", args, code, out)
		}
	}
}

// TestUsageErrors: a command line that does not parse exits 2 with one
// line that names the command and where its help is, before any config
// or cluster is needed.
func TestUsageErrors(t *testing.T) {
	noConfig(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "now"}, `vnet up: unexpected argument "now"`},
		{[]string{"frobnicate"}, `vnet: unknown command "frobnicate"`},
		{[]string{"apps", "--bogus"}, "vnet apps: flag provided but not defined: -bogus"},
		{[]string{"apps", "--format", "xml"}, `vnet apps: --format "xml": use text or json`},
		{[]string{"status", "extra"}, `vnet status: unexpected argument "extra"`},
		{[]string{"diag", "a", "b"}, `vnet diag: unexpected argument "b"`},
		{[]string{"diag", "--port", "70000"}, "vnet diag: --port 70000"},
		{[]string{"login", "alice"}, `vnet login: unexpected argument "alice"`},
		{[]string{"logout", "--proxy"}, "vnet logout: flag needs an argument: -proxy"},
		{[]string{"cluster"}, "vnet cluster: which command? one of start"},
		{[]string{"cluster", "stop"}, `vnet cluster: unknown command "stop"`},
		{[]string{"agent", "start", "x"}, `vnet agent start: unexpected argument "x"`},
		{[]string{"ctl"}, "vnet ctl: which command?"},
		{[]string{"ctl", "nope"}, `vnet ctl: unknown command "nope"`},
		{[]string{"ctl", "get"}, "vnet ctl get: missing argument"},
		{[]string{"ctl", "get", "widgets"}, `vnet ctl get: unknown kind "widgets"`},
		{[]string{"ctl", "get", "apps", "--format", "xml"}, `vnet ctl get: --format "xml"`},
		{[]string{"ctl", "rm", "app"}, "vnet ctl rm: which app?"},
		{[]string{"ctl", "status", "now"}, `vnet ctl status: unexpected argument "now"`},
		{[]string{"ctl", "users", "rm"}, "vnet ctl users rm: missing argument"},
		{[]string{"ctl", "users", "ls", "x"}, `vnet ctl users ls: unexpected argument "x"`},
		{[]string{"ctl", "tokens", "add"}, "vnet ctl tokens add: --type is required"},
		{[]string{"ctl", "agents", "rm"}, "vnet ctl agents rm: missing argument"},
		{[]string{"ctl", "audit", "--limit", "-1"}, "vnet ctl audit: --limit -1"},
		{[]string{"completion", "fish"}, `vnet completion: unknown shell "fish"`},
		{[]string{"version", "2"}, `vnet version: unexpected argument "2"`},
		{[]string{"help", "nope"}, `vnet help: no command "nope"`},
		{[]string{"--config"}, "vnet: flag needs an argument: --config"},
		{[]string{"up", "--log-format", "xml"}, `vnet up: --log-format "xml": use text or json`},
		{[]string{"--log-format", "yaml", "cluster", "start"}, `vnet cluster start: --log-format "yaml": use text or json`},
		{[]string{"agent", "start", "--log-format=logfmt"}, `vnet agent start: --log-format "logfmt"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runTest(t, tc.args...)
			if code != 2 || out != "" {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing", code, out)
			}
			if !strings.HasPrefix(errOut, "ERROR: "+tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("stderr %q; want one line starting %q", errOut, "ERROR: "+tc.want)
			}
		})
	}
}

// TestGlobalFlagsAnywhere: --config and friends go where the command
// reads them, before or after the command.
func TestGlobalFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"--config c.yaml ctl get apps", "ctl --config c.yaml get apps"},
		{"ctl get apps --config c.yaml", "ctl --config c.yaml get apps"},
		{"ctl get apps --config=c.yaml --identity d", "ctl --config=c.yaml --identity d get apps"},
		{"--state-dir /s status --format json", "status --format json --state-dir /s"},
		{"--debug cluster start --config c.yaml", "cluster start --debug --config c.yaml"},
		{"apps", "apps"},
		{"ctl create -- --config", "ctl create -- --config"},
	} {
		got, err := placeGlobals(strings.Fields(tc.in))
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("placeGlobals(%s) = %q, %v; want %q", tc.in, strings.Join(got, " "), err, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runTest(t, args...)
		if code != 0 || !strings.HasPrefix(out, "vnet 0.") || !strings.Contains(out, "(commit ") {
			t.Errorf("vnet %v: exit %d, %q", args, code, out)
		}
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		code, out, _ := runTest(t, "completion", shell)
		if code != 0 || !strings.Contains(out, "complete -F _vnet vnet") || !strings.Contains(out, `"ctl users") words="add ls reset rm"`) {
			t.Errorf("completion %s: exit %d:\n%s", shell, code, out)
		}
	}
}
