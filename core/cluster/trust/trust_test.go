package trust_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/daemon"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/tunnel"
)

// heartbeat is short so that a leaf's absence shows within seconds; the
// assertions wait for outcomes and never on timing.
const heartbeat = 300 * time.Millisecond

// patience only keeps a broken test from hanging.
const patience = 30 * time.Second

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// node is a cluster daemon the test can stop and start again on the same
// data directory.
type node struct {
	cfg  *config.File
	d    *daemon.Daemon
	stop func()
}

func startNode(t *testing.T, cfg *config.File) *node {
	t.Helper()
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.Start(ctx, cfg, clustertest.Logger())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	var once sync.Once
	n := &node{cfg: cfg, d: d}
	n.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("cluster %s: %v", cfg.ClusterName, err)
			}
			d.Close()
		})
	}
	t.Cleanup(n.stop)
	return n
}

func (n *node) admin(t *testing.T) api.ClusterClient {
	t.Helper()
	p, err := profile.Load(daemon.AdminProfileDir(n.cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	return api.NewClusterClient(testkit.Dial(t, p))
}

func create(t *testing.T, admin api.ClusterClient, yaml string) {
	t.Helper()
	if _, err := admin.CreateResource(ctxFor(t), &api.CreateResourceRequest{Yaml: []byte(yaml), Force: true}); err != nil {
		t.Fatalf("create: %v\n%s", err, yaml)
	}
}

// watcher follows a user's WatchCatalog stream.
type watcher struct {
	mu     sync.Mutex
	last   *api.CatalogUpdate // guarded by mu
	err    error              // guarded by mu
	change chan struct{}      // buffered 1
}

func watch(t *testing.T, p *profile.Profile) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := api.NewClusterClient(testkit.Dial(t, p)).WatchCatalog(ctx, &api.WatchCatalogRequest{})
	if err != nil {
		t.Fatal(err)
	}
	w := &watcher{change: make(chan struct{}, 1)}
	go func() {
		for {
			u, err := st.Recv()
			w.mu.Lock()
			w.last, w.err = u, err
			w.mu.Unlock()
			select {
			case w.change <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return w
}

// waitFor returns the first catalog for which ok holds.
func (w *watcher) waitFor(t *testing.T, what string, ok func(*api.CatalogUpdate) bool) *api.CatalogUpdate {
	t.Helper()
	deadline := time.After(patience)
	for {
		w.mu.Lock()
		last, err := w.last, w.err
		w.mu.Unlock()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if last != nil && ok(last) {
			return last
		}
		select {
		case <-w.change:
		case <-deadline:
			t.Fatalf("the catalog never showed %s; last: %v", what, last)
		}
	}
}

func leafApps(u *api.CatalogUpdate, leaf string) (apps []string, found bool) {
	for _, l := range u.GetLeaves() {
		if l.GetApps().GetClusterName() == leaf {
			for _, a := range l.GetApps().GetApps() {
				apps = append(apps, a.GetName())
			}
			slices.Sort(apps)
			return apps, true
		}
	}
	return nil, false
}

func hasLeafApps(leaf string, want ...string) func(*api.CatalogUpdate) bool {
	return func(u *api.CatalogUpdate) bool {
		apps, ok := leafApps(u, leaf)
		return ok && slices.Equal(apps, want)
	}
}

func noLeaf(leaf string) func(*api.CatalogUpdate) bool {
	return func(u *api.CatalogUpdate) bool { _, ok := leafApps(u, leaf); return !ok }
}

// dialLeaf reaches app in leaf through the root that p logged in to and
// returns what the app says.
func dialLeaf(t *testing.T, p *profile.Profile, leaf, app string) (string, error) {
	t.Helper()
	c := tunnel.NewClient(testkit.Dial(t, p), p.ClusterName)
	conn, err := c.DialIn(ctxFor(t), leaf, app, 80, "192.0.2.7:5555")
	if err != nil {
		return "", err
	}
	defer conn.Close()
	got, err := io.ReadAll(conn)
	return string(got), err
}

func trustedCluster(root *clustertest.Cluster, token, roleMap string) string {
	return fmt.Sprintf(`kind: trusted_cluster
version: v1
metadata:
  name: root.test
spec:
  enabled: true
  token: %s
  web_proxy_addr: %s
  ca_pin: %s
  role_map:
%s`, token, root.Addr, root.Daemon.Auth().CA().Pin(), roleMap)
}

// joinToken makes a trusted_cluster token through the root's admin API,
// granting its leaves zones and rng (none if empty).
func joinToken(t *testing.T, root *clustertest.Cluster, rng string, zones ...string) string {
	t.Helper()
	admin := api.NewClusterClient(testkit.Dial(t, root.Admin(t)))
	res, err := admin.AddToken(ctxFor(t), &api.AddTokenRequest{Type: auth.TokenTypeTrustedCluster, TtlSeconds: 3600, LeafZones: zones, LeafIpv4CidrRange: rng})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetToken()
}

func remoteCluster(t *testing.T, admin api.ClusterClient, name string) (string, error) {
	t.Helper()
	res, err := admin.GetResources(ctxFor(t), &api.GetResourcesRequest{Kind: "remote_cluster", Name: name})
	if err != nil {
		return "", err
	}
	return string(res.GetYaml()[0]), nil
}

func waitForEvents(t *testing.T, admin api.ClusterClient, user string, ok func([]audit.Event) bool) {
	t.Helper()
	clustertest.WaitForEvents(t, admin, &api.SearchAuditRequest{User: user}, ok)
}

func hasEvent(typ, app string) func([]audit.Event) bool {
	return func(evs []audit.Event) bool {
		return slices.ContainsFunc(evs, func(ev audit.Event) bool {
			return ev.Type == typ && ev.App == app && ev.Cluster == "leaf.test"
		})
	}
}

// TestLeafCluster runs the life of a trust between two real daemons on
// loopback: join, catalog and dials with the role map, the leaf's audit,
// the leaf going away and coming back, and the trust removed on either
// side.
func TestLeafCluster(t *testing.T) {
	rootCfg := clustertest.Config(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "root-app", URI: "tcp://" + clustertest.GreeterServer(t, "root"), PublicAddr: "root-app.root.test"})
	rootCfg.Proxy.AgentHeartbeat = heartbeat
	root := clustertest.StartConfig(t, rootCfg)
	rootAdmin := api.NewClusterClient(testkit.Dial(t, root.Admin(t)))
	create(t, rootAdmin, "kind: role\nversion: v1\nmetadata: {name: ops}\nspec: {allow: {app_labels: {'*': '*'}}}\n")
	// Outside the leaf's range: a granted range must not overlap the root's.
	create(t, rootAdmin, "kind: vnet_config\nversion: v1\nmetadata: {name: vnet-config}\nspec: {ipv4_cidr_range: 100.64.0.0/16}\n")
	alice := root.AddUser(t, "alice", "dev")
	bob := root.AddUser(t, "bob", "ops")

	leafCfg := clustertest.Config(t, "leaf.test", "proxy.leaf.test",
		clustertest.App{Name: "leaf-app", URI: "tcp://" + clustertest.GreeterServer(t, "leaf"), Labels: map[string]string{"env": "dev"}},
		clustertest.App{Name: "leaf-prod", URI: "tcp://" + clustertest.GreeterServer(t, "prod"), PublicAddr: "leaf-prod.leaf.company.test", Labels: map[string]string{"env": "prod"}},
		clustertest.App{Name: "leaf-echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "leaf-echo.leaf.company.test", Labels: map[string]string{"env": "dev"}})
	leaf := startNode(t, leafCfg)
	leafAdmin := leaf.admin(t)
	create(t, leafAdmin, "kind: role\nversion: v1\nmetadata: {name: leaf-dev}\nspec: {allow: {app_labels: {env: dev}}}\n")
	create(t, leafAdmin, "kind: vnet_config\nversion: v1\nmetadata: {name: vnet-config}\nspec:\n  ipv4_cidr_range: 100.70.0.0/16\n  custom_dns_zones: [{suffix: leaf.company.test}]\n")
	// alice's dev maps to leaf-dev; bob's ops maps to nothing.
	roleMap := "    - remote: dev\n      local: [leaf-dev]\n"
	_, err := leafAdmin.CreateResource(ctxFor(t), &api.CreateResourceRequest{Yaml: []byte(trustedCluster(root, "t", "    - remote: dev\n      local: [typo]\n"))})
	if want := `spec.role_map[0].local: role "typo" does not exist`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a role map to an unknown role: %v; want %q", err, want)
	}
	// The token grants the leaf its zone and range: without them the
	// root would drop both.
	create(t, leafAdmin, trustedCluster(root, joinToken(t, root, "100.70.0.0/16", "leaf.company.test"), roleMap))

	aw, bw := watch(t, alice), watch(t, bob)
	outer := t // what lives past a subtest is started with the test's t

	t.Run("root user sees and reaches what the role map gives", func(t *testing.T) {
		u := aw.waitFor(t, "leaf-app in leaf.test", hasLeafApps("leaf.test", "leaf-app", "leaf-echo"))
		l := u.GetLeaves()[0]
		if got := l.GetApps().GetProxyPublicAddr(); got != "proxy.leaf.test:3080" {
			t.Errorf("leaf proxy address %q", got)
		}
		if got := l.GetConfig().GetIpv4CidrRange(); got != "100.70.0.0/16" {
			t.Errorf("leaf range %q", got)
		}
		if got := l.GetConfig().GetCustomDnsZones(); !slices.Equal(got, []string{"leaf.company.test"}) {
			t.Errorf("leaf zones %v", got)
		}
		if got, err := dialLeaf(t, alice, "leaf.test", "leaf-app"); err != nil || got != "leaf" {
			t.Errorf("dial leaf-app = %q, %v; want leaf", got, err)
		}
		if _, err := dialLeaf(t, alice, "leaf.test", "leaf-prod"); err == nil || !strings.Contains(err.Error(), "access denied") {
			t.Errorf("dial leaf-prod: %v; want access denied", err)
		}
	})
	t.Run("unmapped roles reach nothing", func(t *testing.T) {
		bw.waitFor(t, "leaf.test without apps", hasLeafApps("leaf.test"))
		if _, err := dialLeaf(t, bob, "leaf.test", "leaf-app"); err == nil || !strings.Contains(err.Error(), "access denied") {
			t.Errorf("bob's dial: %v; want access denied", err)
		}
	})
	t.Run("the leaf audits naming the root user", func(t *testing.T) {
		waitForEvents(t, leafAdmin, "alice@root.test", hasEvent(audit.SessionStart, "leaf-app"))
		waitForEvents(t, leafAdmin, "alice@root.test", hasEvent(audit.SessionRejected, "leaf-prod"))
		waitForEvents(t, leafAdmin, "bob@root.test", hasEvent(audit.SessionRejected, "leaf-app"))
		// The client address is the one the root's proxy saw (loopback
		// here); what the client claimed (dialLeaf's) is kept apart.
		evs := clustertest.WaitForEvents(t, leafAdmin, &api.SearchAuditRequest{User: "alice@root.test"}, hasEvent(audit.SessionStart, "leaf-app"))
		for _, ev := range evs {
			if host, _, err := net.SplitHostPort(ev.ClientAddr); err != nil || !net.ParseIP(host).IsLoopback() || ev.ClientReportedAddr != "192.0.2.7:5555" {
				t.Errorf("%s: client_addr %q, client_reported_addr %q; want the root's loopback peer and 192.0.2.7:5555", ev.Type, ev.ClientAddr, ev.ClientReportedAddr)
			}
		}
	})
	t.Run("removing the root user cuts their open leaf session", func(t *testing.T) {
		carol := root.AddUser(t, "carol", "dev")
		conn, err := tunnel.NewClient(testkit.Dial(t, carol), "root.test").DialIn(ctxFor(t), "leaf.test", "leaf-echo", 80, "192.0.2.8:1")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		buf := make([]byte, 4)
		if _, err := conn.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("echo: %q, %v", buf, err)
		}
		res, err := rootAdmin.DeleteResource(ctxFor(t), &api.DeleteResourceRequest{Kind: "user", Name: "carol"})
		if err != nil || res.GetSessionsClosed() != 1 {
			t.Fatalf("users rm carol: %v, %d sessions closed; want 1", err, res.GetSessionsClosed())
		}
		if _, err := io.ReadAll(conn); err == nil {
			t.Error("carol's leaf session ended cleanly after she was removed; want it cut")
		}
	})
	joined, err := remoteCluster(t, rootAdmin, "leaf.test")
	if err != nil || !strings.Contains(joined, "connected: true") {
		t.Fatalf("remote_cluster: %v\n%s", err, joined)
	}

	t.Run("a leaf that goes away leaves the catalog and comes back", func(t *testing.T) {
		leaf.stop()
		aw.waitFor(t, "no leaf.test", noLeaf("leaf.test"))
		if _, err := dialLeaf(t, alice, "leaf.test", "leaf-app"); err == nil || !strings.Contains(err.Error(), "not connected") {
			t.Errorf("dial while the leaf is gone: %v; want not connected", err)
		}
		leaf = startNode(outer, leafCfg)
		leafAdmin = leaf.admin(outer)
		aw.waitFor(t, "leaf-app back", hasLeafApps("leaf.test", "leaf-app", "leaf-echo"))
		if got, err := dialLeaf(t, alice, "leaf.test", "leaf-app"); err != nil || got != "leaf" {
			t.Errorf("dial after restart = %q, %v", got, err)
		}
		// The restart reused the leaf's identity instead of joining again.
		again, err := remoteCluster(t, rootAdmin, "leaf.test")
		if err != nil || joinedLine(again) != joinedLine(joined) {
			t.Errorf("remote_cluster after restart: %v\n%s\nbefore:\n%s", err, again, joined)
		}
	})
	t.Run("removing the remote_cluster on the root ends the trust until a new token", func(t *testing.T) {
		// An open tunnel to the leaf ends with its trust (issue 10).
		conn, err := tunnel.NewClient(testkit.Dial(t, alice), "root.test").DialIn(ctxFor(t), "leaf.test", "leaf-echo", 80, "192.0.2.9:1")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		buf := make([]byte, 4)
		if _, err := conn.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("echo: %q, %v", buf, err)
		}
		if _, err := rootAdmin.DeleteResource(ctxFor(t), &api.DeleteResourceRequest{Kind: "remote_cluster", Name: "leaf.test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(conn); err == nil {
			t.Error("alice's tunnel to the leaf ended cleanly after its trust was removed; want it cut")
		}
		aw.waitFor(t, "no leaf.test", noLeaf("leaf.test"))
		if _, err := remoteCluster(t, rootAdmin, "leaf.test"); err == nil {
			t.Error("remote_cluster still listed")
		}
		create(t, leafAdmin, trustedCluster(root, joinToken(t, root, "100.70.0.0/16", "leaf.company.test"), roleMap))
		aw.waitFor(t, "leaf-app back with a new token", hasLeafApps("leaf.test", "leaf-app", "leaf-echo"))
	})
	t.Run("removing the trusted_cluster on the leaf disconnects", func(t *testing.T) {
		if _, err := leafAdmin.DeleteResource(ctxFor(t), &api.DeleteResourceRequest{Kind: "trusted_cluster", Name: "root.test"}); err != nil {
			t.Fatal(err)
		}
		aw.waitFor(t, "no leaf.test", noLeaf("leaf.test"))
		if _, err := dialLeaf(t, alice, "leaf.test", "leaf-app"); err == nil {
			t.Error("dial after the trust was removed succeeded")
		}
	})
}

func joinedLine(yaml string) string {
	for _, l := range strings.Split(yaml, "\n") {
		if strings.Contains(l, "joined:") {
			return l
		}
	}
	return ""
}
