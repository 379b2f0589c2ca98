package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/daemon"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// runCtlTest runs `vnet ctl` against c with env set, and returns what it
// printed.
func runCtlTest(t *testing.T, c *clustertest.Cluster, env map[string]string, args ...string) (string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := runCtl(ctx, append([]string{"--identity", daemon.AdminProfileDir(c.Config.DataDir)}, args...))
	return out.String(), err
}

// editorScript writes a shell script usable as $EDITOR that runs body on
// the file ("$1").
func editorScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// appFile writes an app resource named name, with extra metadata lines.
func appFile(t *testing.T, name string, metadata ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".yaml")
	y := "kind: app\nversion: v1\nmetadata:\n  name: " + name + "\n" + strings.Join(metadata, "") + "spec:\n  uri: tcp://127.0.0.1:1\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCtl(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // where edit keeps a refused file
	c := clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "tcp-app", URI: "tcp://127.0.0.1:5432", PublicAddr: "tcp-app.company.test", Labels: map[string]string{"env": "dev"}})
	role := filepath.Join(t.TempDir(), "role.yaml")
	if err := os.WriteFile(role, []byte("kind: role\nversion: v1\nmetadata: {name: prod-only}\nspec:\n  allow:\n    app_labels: {env: prod}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		env  map[string]string
		args []string
		want string // in the output, or in the error if err
		err  bool
	}{
		{name: "create a role", args: []string{"create", role}, want: `role "prod-only" has been created`},
		{name: "roles as a table", args: []string{"get", "roles", "--format", "text"}, want: "prod-only  env=prod          -"},
		{name: "one role as JSON", args: []string{"get", "role/prod-only", "--format", "json"}, want: `"app_labels": {`},
		{name: "apps as a table", args: []string{"get", "apps", "--format=text"}, want: "tcp-app  tcp-app.company.test  tcp://127.0.0.1:5432  env=dev"},
		{name: "bad format", args: []string{"get", "apps", "--format", "xml"}, err: true, want: `--format "xml"`},
		{name: "an app of cluster.yaml says so", args: []string{"get", "app/tcp-app"}, want: "origin: config"},
		{name: "and in JSON", args: []string{"get", "app/tcp-app", "--format", "json"}, want: `"origin": "config"`},
		{name: "and in the table", args: []string{"get", "apps", "--format", "text"}, want: "env=dev  config"},
		{name: "rm an app of cluster.yaml", args: []string{"rm", "app/tcp-app"}, err: true, want: `app "tcp-app" is defined in cluster.yaml: change it there`},
		{
			name: "edit an app of cluster.yaml",
			env:  map[string]string{"EDITOR": "true", "VISUAL": ""},
			args: []string{"edit", "app/tcp-app"}, err: true, want: `app "tcp-app" is defined in cluster.yaml: change it there`,
		},
		{name: "overwrite an app of cluster.yaml", args: []string{"create", "-f", appFile(t, "tcp-app")}, err: true, want: `app "tcp-app" is defined in cluster.yaml: change it there`},
		{name: "an origin is the cluster's to set", args: []string{"create", appFile(t, "other", "  origin: config\n")}, err: true, want: `metadata.origin "config" is set by the cluster`},
		{name: "rm says how to remove one the file no longer defines", args: []string{"rm", "app/tcp-app"}, err: true, want: "vnet ctl rm --force app/tcp-app"},
		{name: "rm --force removes it", args: []string{"rm", "--force", "app/tcp-app"}, want: `app "tcp-app" has been removed`},
		{name: "unknown kind", args: []string{"get", "widgets"}, err: true, want: `unknown kind "widgets"`},
		{name: "users add", args: []string{"users", "add", "bob", "--roles=prod-only"}, want: "--user=bob --token-file=FILE"},
		{name: "users ls", args: []string{"users", "ls"}, want: "bob    prod-only  not set"},
		{
			name: "edit: a change is saved",
			env:  map[string]string{"EDITOR": editorScript(t, `sed -i 's/env: prod/env: [dev, prod]/' "$1"`), "VISUAL": ""},
			args: []string{"edit", "role/prod-only"}, want: `role "prod-only" has been updated`,
		},
		{name: "edit: saved as edited", args: []string{"get", "role", "prod-only", "--format", "text"}, want: "env=dev|prod"},
		{
			name: "edit: no change",
			env:  map[string]string{"EDITOR": "true", "VISUAL": ""},
			args: []string{"edit", "role/prod-only"}, want: "no changes",
		},
		{
			name: "edit: an invalid file is kept",
			env:  map[string]string{"EDITOR": editorScript(t, `sed -i 's/- prod/- "dev-*"/' "$1"`), "VISUAL": ""},
			args: []string{"edit", "role/prod-only"}, err: true, want: `spec.allow.app_labels["env"]: "dev-*": '*' matches whole values only; list the values, or use '*'; your changes are kept in `,
		},
		{
			name: "edit: no renaming",
			env:  map[string]string{"EDITOR": editorScript(t, `sed -i 's/name: prod-only/name: other/' "$1"`), "VISUAL": ""},
			args: []string{"edit", "role/prod-only"}, err: true, want: `edit cannot turn role "prod-only" into role "other"`,
		},
		{
			name: "edit a user's roles",
			env:  map[string]string{"EDITOR": editorScript(t, `sed -i 's/- prod-only/- dev/' "$1"`), "VISUAL": ""},
			args: []string{"edit", "user/bob"}, want: `user "bob" has been updated`,
		},
		{name: "the user's new role", args: []string{"users", "ls"}, want: "bob    dev"},
		{name: "rm needs a name", args: []string{"rm", "role"}, err: true, want: "which role?"},
		{name: "rm a role held by nobody", args: []string{"rm", "role/prod-only"}, want: `role "prod-only" has been removed`},
		{name: "rm vnet_config", args: []string{"rm", "vnet_config"}, want: "vnet_config has been reset to the default"},
		{name: "users rm", args: []string{"users", "rm", "bob"}, want: `user "bob" has been removed`},
		{name: "a leaf token with grants", args: []string{"tokens", "add", "--type=trusted_cluster", "--zones=leafcorp.test,eu.test", "--range=10.70.0.0/16"}, want: "kind: trusted_cluster"},
		{name: "grants are for leaves", args: []string{"tokens", "add", "--type=app", "--zones=leafcorp.test"}, err: true, want: "--zones and --range are grants to leaf clusters"},
		{name: "a granted range inside the root's", args: []string{"tokens", "add", "--type=trusted_cluster", "--range=100.65.0.0/16"}, err: true, want: "100.65.0.0/16 overlaps this cluster's range 100.64.0.0/10"},
		{name: "a bad granted zone", args: []string{"tokens", "add", "--type=trusted_cluster", "--zones=test"}, err: true, want: `zones[0]: "test" is a single label`},
		{name: "no leaf clusters", args: []string{"get", "remote_clusters", "--format", "text"}, want: "NAME  STATUS  PROXY  JOINED  GRANTS  REFUSED"},
		{name: "rm an unknown leaf", args: []string{"rm", "remote_cluster/nope"}, err: true, want: `remote_cluster "nope": not found`},
		{name: "no trusted clusters", args: []string{"get", "trusted_clusters", "--format", "text"}, want: "NAME  ENABLED  ROOT PROXY  ROLE MAP"},
		{name: "audit table", args: []string{"audit", "--since", "1h"}, want: "CLIENT REPORTED"},
		{name: "audit bad since", args: []string{"audit", "--since", "yesterday"}, err: true, want: `--since "yesterday"`},
		{name: "audit bad format", args: []string{"audit", "--format", "yaml"}, err: true, want: `--format "yaml"`},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, err := runCtlTest(t, c, s.env, s.args...)
			got := out
			if s.err {
				if err == nil {
					t.Fatalf("succeeded, printing %q; want an error", out)
				}
				got = err.Error()
			} else if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !strings.Contains(got, s.want) {
				t.Errorf("got %q, want it to contain %q", got, s.want)
			}
		})
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "", want: time.Unix(0, 0)},
		{in: "1h", want: now.Add(-time.Hour)},
		{in: "2029-12-31T00:00:00Z", want: time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC)},
		{in: "-1h", err: true},
		{in: "yesterday", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseWhen("--since", tt.in, now)
			if tt.err != (err != nil) {
				t.Fatalf("parseWhen(%q) = %d, %v", tt.in, got, err)
			}
			if !tt.err && got != tt.want.UnixNano() && !(tt.in == "" && got == 0) {
				t.Errorf("parseWhen(%q) = %v, want %v", tt.in, time.Unix(0, got), tt.want)
			}
		})
	}
}

// TestCtlRemoteClusterGrants: a leaf's grants come from its token, show in
// `get remote_clusters` and change with `edit` (without its read-only
// status).
func TestCtlRemoteClusterGrants(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	c := clustertest.Start(t, "root.test", "proxy.root.test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	token, _, err := c.Daemon.Auth().AddLeafJoinToken(ctx, time.Hour, resource.LeafGrants{Zones: []string{"leafcorp.test"}, IPv4CIDRRange: "10.70.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if _, err := c.Daemon.Auth().JoinLeaf(ctx, token, "leaf.test", pub); err != nil {
		t.Fatal(err)
	}
	out, err := runCtlTest(t, c, nil, "get", "remote_clusters", "--format", "text")
	if err != nil || !strings.Contains(out, "leafcorp.test,10.70.0.0/16  0") {
		t.Fatalf("get remote_clusters = %q, %v; want the token's grants", out, err)
	}
	editor := editorScript(t, `if grep -q status: "$1"; then exit 1; fi; sed -i 's#10.70.0.0/16#10.71.0.0/16#' "$1"`)
	out, err = runCtlTest(t, c, map[string]string{"EDITOR": editor, "VISUAL": ""}, "edit", "remote_cluster/leaf.test")
	if err != nil || !strings.Contains(out, `remote_cluster "leaf.test" has been updated`) {
		t.Fatalf("edit = %q, %v", out, err)
	}
	out, err = runCtlTest(t, c, nil, "get", "remote_cluster/leaf.test")
	if err != nil || !strings.Contains(out, "ipv4_cidr_range: 10.71.0.0/16") {
		t.Fatalf("after edit: %q, %v", out, err)
	}
	f := filepath.Join(t.TempDir(), "rc.yaml")
	if err := os.WriteFile(f, []byte("kind: remote_cluster\nversion: v1\nmetadata: {name: leaf.test}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCtlTest(t, c, nil, "create", f); err == nil || !strings.Contains(err.Error(), "use -f to overwrite") {
		t.Fatalf("create without -f: %v", err)
	}
}
