package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/agent"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/config"
)

// TestCtlAppsAndAgents: the creation rules of apps through 'vnet ctl
// create', limited join tokens, refused claims in 'get apps', and
// 'agents ls' / 'agents rm' (issue 9).
func TestCtlAppsAndAgents(t *testing.T) {
	cfg := clustertest.Config(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "a", URI: "tcp://127.0.0.1:5432", PublicAddr: "db.company.test"})
	cfg.Proxy.AgentHeartbeat = 300 * time.Millisecond
	c := clustertest.StartConfig(t, cfg)
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	n := 0
	appYAML := func(name, publicAddr string) string {
		y := "kind: app\nversion: v1\nmetadata: {name: " + name + "}\nspec:\n  uri: tcp://127.0.0.1:1\n"
		if publicAddr != "" {
			y += "  public_addr: " + publicAddr + "\n"
		}
		n++ // the steps below are built before they run: one file each
		return file(fmt.Sprintf("%s-%d.yaml", name, n), y)
	}
	run := func(t *testing.T, want string, wantErr bool, args ...string) string {
		t.Helper()
		out, err := runCtlTest(t, c, nil, args...)
		got := out
		if wantErr {
			if err == nil {
				t.Fatalf("%v succeeded, printing %q; want an error", args, out)
			}
			got = err.Error()
		} else if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !strings.Contains(got, want) {
			t.Fatalf("%v: got %q, want it to contain %q", args, got, want)
		}
		return got
	}
	steps := []struct {
		name string
		args []string
		want string
		err  bool
	}{
		{"a name that is not a DNS label", []string{"create", appYAML("my_app", "")}, `app "my_app": metadata.name "my_app" is not a DNS label (it contains '_'; use letters, digits and '-'): set spec.public_addr or rename the app`, true},
		{"any name with a public_addr", []string{"create", appYAML("my_app", "my-app.company.test")}, `app "my_app" has been created`, false},
		{"another app's public_addr", []string{"create", appYAML("b", "DB.company.test.")}, `app "b": spec.public_addr "db.company.test" is already the address of app "a"`, true},
		{"a default address taken", []string{"create", appYAML("c", "web.proxy.root.test")}, `app "c" has been created`, false},
		{"its default address is another's public_addr", []string{"create", appYAML("web", "")}, `app "web": its default address "web.proxy.root.test" (no spec.public_addr) is already the address of app "c"`, true},
		{"the proxy's host", []string{"create", appYAML("p", "proxy.root.test")}, `is the proxy's own address`, true},
		{"the same app again with -f", []string{"create", "-f", appYAML("c", "web.proxy.root.test")}, `app "c" has been updated`, false},
		{"an app of cluster.yaml with -f", []string{"create", "-f", appYAML("a", "db.company.test")}, `app "a" is defined in cluster.yaml: change it there`, true},
		{"limits on a leaf token", []string{"tokens", "add", "--type=trusted_cluster", "--apps=db-*"}, "limit tokens of type app only", true},
		{"a bad glob", []string{"tokens", "add", "--type=app", "--apps=db-["}, `"db-[" is not a valid pattern`, true},
		{"bad labels", []string{"tokens", "add", "--type=app", "--labels", "env"}, `--labels: "env" is not key=value`, true},
		{"no agents", []string{"agents", "ls"}, "ID  HOST  JOINED  CONNECTED  APPS  LIMITS", false},
		{"rm an unknown agent", []string{"agents", "rm", "nope"}, `agent "nope": not found`, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) { run(t, s.want, s.err, s.args...) })
	}

	// The refused creations are audited.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := runCtlTest(t, c, nil, "audit", "--app", "b", "--format", "json")
		if err == nil && strings.Contains(out, `"app.claim.refused"`) && strings.Contains(out, `"user":"admin"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no app.claim.refused event for b: %q, %v", out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	out := run(t, "may serve only apps named db-* and labelled env=dev", false, "tokens", "add", "--type=app", "--apps=db-*", "--labels", "env=dev")
	token := regexp.MustCompile(`(?m)^  ([0-9a-f]{32})$`).FindStringSubmatch(out)
	if token == nil {
		t.Fatalf("no token in %q", out)
	}
	run(t, "named db-* and labelled env=dev", false, "tokens", "ls")

	// An agent of that token: db-main is served, web refused.
	dev := map[string]string{"env": "dev"}
	f := &agent.File{ProxyAddr: c.Addr, JoinToken: token[1], CAPin: c.Daemon.Auth().CA().Pin(), DataDir: t.TempDir(),
		Apps: config.AppService{Enabled: true, Apps: []config.StaticApp{
			{Name: "db-main", URI: "tcp://127.0.0.1:1", Labels: dev},
			{Name: "web", URI: "tcp://127.0.0.1:2", Labels: dev},
		}}}
	if err := f.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	id, err := agent.LoadOrJoin(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := f.AppResources()
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Identity: id, Apps: apps, Logger: clustertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	agentID := strings.TrimPrefix(id.User, "agent:")

	deadline = time.Now().Add(time.Minute)
	for {
		out, err := runCtlTest(t, c, nil, "get", "apps", "--format", "text")
		if err == nil && strings.Contains(out, "db-main") && strings.Contains(out, "REFUSED CLAIMS\nagent "+agentID+`: app "web": the agent's join token allows only apps named db-*`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("get apps never showed db-main and web's refusal: %q, %v", out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	run(t, "# refused: agent "+agentID+`: app "web"`, false, "get", "apps")
	run(t, agentID+"  ", false, "agents", "ls")
	ls := run(t, "yes", false, "agents", "ls")
	if !strings.Contains(ls, "db-main") || !strings.Contains(ls, "named db-* and labelled env=dev") {
		t.Fatalf("agents ls = %q; want its app and its token's limits", ls)
	}
	run(t, "agent "+agentID+" has been removed; its apps are gone: db-main", false, "agents", "rm", agentID)
	if out := run(t, "NAME", false, "get", "apps", "--format", "text"); strings.Contains(out, "db-main") {
		t.Fatalf("get apps after agents rm = %q; want db-main gone", out)
	}
}
