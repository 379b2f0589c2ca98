package agent_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/agent"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/tunnel"
)

// heartbeat is short so that an agent's absence shows within seconds; the
// assertions wait for outcomes and never on timing.
const heartbeat = 300 * time.Millisecond

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func startCluster(t *testing.T, apps ...clustertest.App) *clustertest.Cluster {
	cfg := clustertest.Config(t, "root.test", "proxy.root.test", apps...)
	cfg.Proxy.AgentHeartbeat = heartbeat
	return clustertest.StartConfig(t, cfg)
}

// runningAgent is an agent.Agent running in the test.
type runningAgent struct {
	*agent.Agent
	id   string // its agent ID
	stop func()
}

// startAgent joins c through proxyAddr and runs until stopped or the test
// ends.
func startAgent(t *testing.T, c *clustertest.Cluster, proxyAddr string, apps ...clustertest.App) *runningAgent {
	t.Helper()
	return startAgentWith(t, c, proxyAddr, agentOptions{}, apps...)
}

// agentOptions change how startAgentWith starts an agent.
type agentOptions struct {
	token string // the join token; "": a new one without limits
	// dial replaces the agent's dial of its apps' targets: two agents of
	// one app (one uri) reach targets of their own.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	log  *slog.Logger // default: clustertest.Logger()
}

func startAgentWith(t *testing.T, c *clustertest.Cluster, proxyAddr string, o agentOptions, apps ...clustertest.App) *runningAgent {
	t.Helper()
	ctx := ctxFor(t)
	if o.token == "" {
		var err error
		if o.token, _, err = c.Daemon.Auth().AddJoinToken(ctx, auth.TokenTypeApp, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	f := &agent.File{
		ProxyAddr: proxyAddr, JoinToken: o.token, CAPin: c.Daemon.Auth().CA().Pin(), DataDir: t.TempDir(),
		Apps: config.AppService{Enabled: true, Apps: apps},
	}
	if err := f.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	return runAgent(t, f, o)
}

// dialTo is an agentOptions.dial that reaches addr whatever the app.
func dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

func runAgent(t *testing.T, f *agent.File, o agentOptions) *runningAgent {
	t.Helper()
	id, err := agent.LoadOrJoin(ctxFor(t), f)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := f.AppResources()
	if err != nil {
		t.Fatal(err)
	}
	if o.log == nil {
		o.log = clustertest.Logger()
	}
	a, err := agent.New(agent.Config{Identity: id, IdentityDir: f.IdentityDir(), Apps: apps, Logger: o.log, DialApp: o.dial})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &runningAgent{Agent: a, id: strings.TrimPrefix(id.User, auth.AgentUserPrefix), stop: stop}
}

// user is a logged-in user allowed every app.
type user struct {
	cluster api.ClusterClient
	tunnel  *tunnel.Client
}

var userSeq sync.Map

func newUser(t *testing.T, c *clustertest.Cluster, proxyAddr string) user {
	t.Helper()
	ctx := ctxFor(t)
	admin := testkit.Dial(t, c.Admin(t))
	role := "kind: role\nversion: v1\nmetadata:\n  name: all-apps\nspec:\n  allow:\n    app_labels:\n      '*': '*'\n"
	if _, err := api.NewClusterClient(admin).CreateResource(ctx, &api.CreateResourceRequest{Yaml: []byte(role), Force: true}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	n, _ := userSeq.LoadOrStore(t.Name(), new(int))
	*n.(*int)++
	p := c.AddUser(t, fmt.Sprintf("user%d", *n.(*int)), "all-apps")
	p.ProxyAddr = proxyAddr
	conn := testkit.Dial(t, p)
	return user{cluster: api.NewClusterClient(conn), tunnel: tunnel.NewClient(conn, c.Config.ClusterName)}
}

// apps lists what the user sees: name -> public address.
func (u user) apps(t *testing.T) map[string]string {
	t.Helper()
	res, err := u.cluster.ListApps(ctxFor(t), &api.ListAppsRequest{})
	if err != nil {
		t.Fatalf("ListApps: %v", err)
	}
	out := map[string]string{}
	for _, a := range res.GetApps() {
		out[a.GetName()] = a.GetPublicAddr()
	}
	return out
}

// read dials app and returns what it says before closing.
func (u user) read(t *testing.T, app string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctxFor(t), time.Minute)
	defer cancel()
	conn, err := u.tunnel.Dial(ctx, app, 80, "test")
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.CloseWrite(); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	return string(b), err
}

// greeter is an app that says msg to every connection and closes.
func greeter(t *testing.T, msg string) string { return clustertest.GreeterServer(t, msg) }

func app(name, addr, publicAddr string) clustertest.App {
	return clustertest.App{Name: name, URI: "tcp://" + addr, PublicAddr: publicAddr, Labels: map[string]string{"env": "test"}}
}

// TestTwoAgentsFailover: two agents serve one app (the same uri; each
// reaches a target of its own); dials reach both; one agent is cut off
// without a goodbye (as if killed) and every dial after that reaches the
// other, while the app stays listed.
func TestTwoAgentsFailover(t *testing.T) {
	c := startCluster(t)
	cut := clustertest.NewCutter(t, c.Addr)
	svc := app("svc", "svc.internal:80", "svc.company.test")
	startAgentWith(t, c, cut.Addr(), agentOptions{dial: dialTo(greeter(t, "one"))}, svc)
	startAgentWith(t, c, c.Addr, agentOptions{dial: dialTo(greeter(t, "two"))}, svc)
	u := newUser(t, c, c.Addr)
	testkit.Eventually(t, "svc listed", func() bool { return u.apps(t)["svc"] == "svc.company.test" })

	// Both agents serve: the proxy picks among live ones at random.
	seen := map[string]int{}
	for i := 0; i < 200 && (seen["one"] == 0 || seen["two"] == 0); i++ {
		got, err := u.read(t, "svc")
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		seen[got]++
	}
	if seen["one"] == 0 || seen["two"] == 0 || len(seen) != 2 {
		t.Fatalf("answers %v, want both agents' apps", seen)
	}

	cut.Cut() // agent one is gone, its registration not expired yet
	for i := 0; i < 20; i++ {
		got, err := u.read(t, "svc")
		if err != nil || got != "two" {
			t.Fatalf("dial %d after agent one died = %q, %v; want agent two's app", i, got, err)
		}
		if _, ok := u.apps(t)["svc"]; !ok {
			t.Fatalf("svc left the catalog while agent two serves it")
		}
	}
}

// TestAgentGoneAndBack: an agent's only app leaves the catalog once the
// agent has been gone past the timeout, and returns when it reconnects.
func TestAgentGoneAndBack(t *testing.T) {
	c := startCluster(t)
	cut := clustertest.NewCutter(t, c.Addr)
	startAgent(t, c, cut.Addr(), app("solo", greeter(t, "solo here"), "solo.company.test"))
	u := newUser(t, c, c.Addr)
	testkit.Eventually(t, "solo listed", func() bool { _, ok := u.apps(t)["solo"]; return ok })
	if got, err := u.read(t, "solo"); err != nil || got != "solo here" {
		t.Fatalf("read solo = %q, %v", got, err)
	}

	cut.Cut()
	testkit.Eventually(t, "solo to leave the catalog", func() bool { _, ok := u.apps(t)["solo"]; return !ok })
	if _, err := u.read(t, "solo"); !errors.Is(err, tunnel.ErrNotFound) {
		t.Fatalf("dial of a gone app: %v, want ErrNotFound", err)
	}

	cut.Restore() // the agent's back-off loop reconnects
	testkit.Eventually(t, "solo back in the catalog", func() bool { _, ok := u.apps(t)["solo"]; return ok })
	if got, err := u.read(t, "solo"); err != nil || got != "solo here" {
		t.Fatalf("read solo after reconnect = %q, %v", got, err)
	}
}

// TestAgentReload: new apps (as after SIGHUP) reach the catalog: a changed
// public_addr, an added app, a removed one.
func TestAgentReload(t *testing.T) {
	c := startCluster(t)
	a := startAgent(t, c, c.Addr, app("web", greeter(t, "web"), "web.company.test"), app("old", greeter(t, "old"), "old.company.test"))
	u := newUser(t, c, c.Addr)
	testkit.Eventually(t, "web and old listed", func() bool { got := u.apps(t); return got["web"] != "" && got["old"] != "" })

	f := &agent.File{ProxyAddr: c.Addr, DataDir: t.TempDir(), Apps: config.AppService{Enabled: true, Apps: []clustertest.App{
		app("web", greeter(t, "web2"), "www.company.test"),
		app("new", greeter(t, "new"), "new.company.test"),
	}}}
	apps, err := f.AppResources()
	if err != nil {
		t.Fatal(err)
	}
	a.SetApps(apps)
	testkit.Eventually(t, "the reloaded apps", func() bool {
		got := u.apps(t)
		_, old := got["old"]
		return got["web"] == "www.company.test" && got["new"] == "new.company.test" && !old
	})
	if got, err := u.read(t, "web"); err != nil || got != "web2" {
		t.Fatalf("read web after reload = %q, %v; want the new target", got, err)
	}
}

// TestAgentCannotTakeClusterApp: an app of cluster.yaml keeps its
// definition when an agent registers the same name; the agent's other
// apps are served.
func TestAgentCannotTakeClusterApp(t *testing.T) {
	c := startCluster(t, app("static", greeter(t, "static"), "static.company.test"))
	startAgent(t, c, c.Addr, app("static", greeter(t, "impostor"), "evil.company.test"), app("mine", greeter(t, "mine"), "mine.company.test"))
	u := newUser(t, c, c.Addr)
	testkit.Eventually(t, "mine listed", func() bool { return u.apps(t)["mine"] != "" })
	if got := u.apps(t)["static"]; got != "static.company.test" {
		t.Fatalf("static app's public_addr = %q, want it unchanged", got)
	}
	for i := 0; i < 5; i++ {
		if got, err := u.read(t, "static"); err != nil || got != "static" {
			t.Fatalf("read static = %q, %v; want the cluster's own target", got, err)
		}
	}
}

func TestJoin(t *testing.T) {
	c := startCluster(t)
	ctx := ctxFor(t)
	token, _, err := c.Daemon.Auth().AddJoinToken(ctx, auth.TokenTypeApp, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leafToken, _, err := c.Daemon.Auth().AddJoinToken(ctx, auth.TokenTypeTrustedCluster, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pin := c.Daemon.Auth().CA().Pin()
	wrongPin := "sha256:" + strings.Repeat("0", 64)
	tests := []struct {
		name    string
		token   string
		pin     string
		wantErr string
	}{
		{"no token", "", pin, "join_token or token_file"},
		{"no pin", token, "", "ca_pin: required"},
		{"wrong pin", token, wrongPin, "CA pin"},
		{"unknown token", strings.Repeat("ab", 16), pin, "invalid or expired join token"},
		{"trusted cluster token", leafToken, pin, "invalid or expired join token"},
		{"good", token, pin, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &agent.File{ProxyAddr: c.Addr, JoinToken: tt.token, CAPin: tt.pin, DataDir: t.TempDir()}
			if err := f.CheckAndSetDefaults(); err != nil {
				t.Fatal(err)
			}
			id, err := agent.LoadOrJoin(ctx, f)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadOrJoin = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(id.User, auth.AgentUserPrefix) || id.ClusterName != "root.test" {
				t.Fatalf("identity = %s of %s", id.User, id.ClusterName)
			}
			// A later start reuses the identity and needs no token.
			f.JoinToken, f.CAPin = "", ""
			again, err := agent.LoadOrJoin(ctx, f)
			if err != nil || again.User != id.User {
				t.Fatalf("second start = %v, %v; want the saved identity %s", again, err, id.User)
			}
		})
	}
}
