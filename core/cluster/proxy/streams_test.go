package proxy_test

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/proxy"
	"github.com/vnetproject/vnet/core/cluster/store/etcdtest"
	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/tunnel"
)

// Regression tests for "streams that end when the right ends" (issue 10):
// data tunnels and catalog watches end with the user, the role, the agent
// or the leaf they depend on, and per-user stream limits refuse one user
// without touching another.

// watch is an open catalog watch; updates are what it received.
type watch struct {
	updates chan *api.CatalogUpdate
	ended   chan error // the error that ended it; buffered
}

func openWatch(t *testing.T, p *profile.Profile) *watch {
	t.Helper()
	return startWatch(t, p, &api.WatchCatalogRequest{})
}

// startWatch opens a catalog watch with req.
func startWatch(t *testing.T, p *profile.Profile, req *api.WatchCatalogRequest) *watch {
	t.Helper()
	st, err := api.NewClusterClient(testkit.Dial(t, p)).WatchCatalog(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	w := &watch{updates: make(chan *api.CatalogUpdate, 100), ended: make(chan error, 1)}
	go func() {
		for {
			u, err := st.Recv()
			if err != nil {
				w.ended <- err
				return
			}
			w.updates <- u
		}
	}()
	return w
}

// next is the watch's next update, or the error that ended it.
func (w *watch) next(t *testing.T) (*api.CatalogUpdate, error) {
	t.Helper()
	select {
	case u := <-w.updates:
		return u, nil
	case err := <-w.ended:
		return nil, err
	case <-ctx(t).Done():
		t.Fatal("the watch neither sent an update nor ended")
		return nil, nil
	}
}

// waitApps reads whole updates until one offers exactly apps (sorted);
// the watch ending first fails t.
func (w *watch) waitApps(t *testing.T, apps ...string) {
	t.Helper()
	for {
		u, err := w.next(t)
		if err != nil {
			t.Fatalf("the watch ended before it offered %v: %v", apps, err)
		}
		if slices.Equal(watchedApps(u), apps) {
			return
		}
	}
}

func watchedApps(u *api.CatalogUpdate) []string {
	var out []string
	for _, a := range u.GetApps().GetApps() {
		out = append(out, a.GetName())
	}
	slices.Sort(out)
	return out
}

// openTunnel dials app as p and checks that it echoes.
func openTunnel(t *testing.T, p *profile.Profile, app string) *tunnel.Conn {
	t.Helper()
	conn, err := tunnel.NewClient(testkit.Dial(t, p), "root.test").Dial(ctx(t), app, 5432, "100.64.0.1:40000")
	if err != nil {
		t.Fatalf("dial %s: %v", app, err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through %s = %q, %v", app, buf, err)
	}
	return conn
}

// waitCut waits until conn has ended (read fails or EOF), within the
// test's context.
func waitCut(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	cut := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn)
		close(cut)
	}()
	select {
	case <-cut:
	case <-ctx(t).Done():
		t.Fatalf("%s is still open", what)
	}
}

// stillOpen checks that conn still echoes.
func stillOpen(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	if _, err := conn.Write([]byte("pong")); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("%s: echo = %q, %v", what, buf, err)
	}
}

// TestUsersRmEndsWatchAndTunnel: 'users rm bob' through the proxy ends
// bob's catalog watch (with PermissionDenied, and no update after it) and
// bob's tunnel before the call returns, without waiting for a recheck;
// alice's are untouched.
func TestUsersRmEndsWatchAndTunnel(t *testing.T) {
	proxy.SetRecheckInterval(t, time.Hour) // only the cut at the removal
	c := startCluster(t)
	bob, alice := c.AddUser(t, "bob", "dev"), c.AddUser(t, "alice", "dev")
	bw, aw := openWatch(t, bob), openWatch(t, alice)
	for _, w := range []*watch{bw, aw} {
		if u, err := w.next(t); err != nil || len(u.GetApps().GetApps()) != 2 {
			t.Fatalf("first update = %v, %v", u, err)
		}
	}
	bt, at := openTunnel(t, bob, "echo"), openTunnel(t, alice, "echo")

	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	res, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "user", Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetSessionsClosed() != 2 {
		t.Errorf("sessions closed = %d, want 2 (the watch and the tunnel)", res.GetSessionsClosed())
	}
	if u, err := bw.next(t); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "bob") {
		t.Fatalf("bob's watch after users rm: update %v, err %v; want it ended with PermissionDenied", u, err)
	}
	waitCut(t, bt, "bob's tunnel after users rm")
	stillOpen(t, at, "alice's tunnel")
	select {
	case err := <-aw.ended:
		t.Fatalf("alice's watch ended: %v", err)
	default:
	}
}

// TestUserRemovedElsewhereEndsWatch: a user removed in the store (as
// another proxy sharing it does) loses their watch and tunnel at the
// next recheck or watch pass.
func TestUserRemovedElsewhereEndsWatch(t *testing.T) {
	proxy.SetRecheckInterval(t, 20*time.Millisecond)
	c := startCluster(t)
	bob := c.AddUser(t, "bob", "dev")
	w := openWatch(t, bob)
	if _, err := w.next(t); err != nil {
		t.Fatal(err)
	}
	conn := openTunnel(t, bob, "echo")
	if err := c.Daemon.Auth().RemoveUser(ctx(t), "bob"); err != nil {
		t.Fatal(err)
	}
	if u, err := w.next(t); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("watch after bob was removed in the store: update %v, err %v; want PermissionDenied", u, err)
	}
	waitCut(t, conn, "bob's tunnel after bob was removed in the store")
}

const echoOnly = "kind: role\nversion: v1\nmetadata: {name: echo-only}\nspec:\n  allow:\n    app_labels: {team: echo}\n"

// roleCluster has two apps told apart by a label.
func roleCluster(t *testing.T) *clustertest.Cluster {
	return clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test", Labels: map[string]string{"team": "echo"}},
		clustertest.App{Name: "other", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "other.company.test", Labels: map[string]string{"team": "other"}},
	)
}

// TestRoleChangeEndsTunnel: taking away the role that allowed an app
// ends the user's tunnel to that app when the change is made (the user's
// roles edited, or the role itself), keeps their tunnel to an app still
// allowed, and keeps their watch open: its next update no longer shows
// the app (the decision: a watch follows the roles, it ends only with
// the user).
func TestRoleChangeEndsTunnel(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(t *testing.T, admin api.ClusterClient)
	}{
		{"user's roles edited", func(t *testing.T, admin api.ClusterClient) {
			create(t, admin, "kind: user\nversion: v1\nmetadata: {name: bob}\nspec:\n  roles: [other-only]\n", true)
		}},
		{"role edited", func(t *testing.T, admin api.ClusterClient) {
			create(t, admin, "kind: role\nversion: v1\nmetadata: {name: echo-only}\nspec:\n  allow:\n    app_labels: {team: other}\n", true)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxy.SetRecheckInterval(t, time.Hour) // only the cut at the change
			c := roleCluster(t)
			admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
			create(t, admin, echoOnly, false)
			create(t, admin, "kind: role\nversion: v1\nmetadata: {name: other-only}\nspec:\n  allow:\n    app_labels: {team: other}\n", false)
			bob := c.AddUser(t, "bob", "echo-only", "other-only")
			w := openWatch(t, bob)
			// The roles were written just before: the proxy's cache may
			// send a set without them first, then one with them.
			w.waitApps(t, "echo", "other")
			echo, other := openTunnel(t, bob, "echo"), openTunnel(t, bob, "other")

			tt.change(t, admin)
			waitCut(t, echo, "the tunnel to echo after the role change")
			stillOpen(t, other, "the tunnel to other, still allowed")
			w.waitApps(t, "other")
		})
	}
}

// TestRoleChangedElsewhereEndsTunnel: a user's roles changed in the store
// (another proxy) end the tunnel they no longer allow at the next recheck.
func TestRoleChangedElsewhereEndsTunnel(t *testing.T) {
	proxy.SetRecheckInterval(t, 20*time.Millisecond)
	c := roleCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	create(t, admin, echoOnly, false)
	bob := c.AddUser(t, "bob", "echo-only")
	conn := openTunnel(t, bob, "echo")
	stillOpen(t, conn, "bob's tunnel with a role that allows echo")
	create(t, admin, "kind: role\nversion: v1\nmetadata: {name: nothing}\nspec:\n  allow:\n    app_labels: {team: nobody}\n", false)
	if err := c.Daemon.Auth().SetRoles(ctx(t), "bob", []string{"nothing"}); err != nil {
		t.Fatal(err)
	}
	waitCut(t, conn, "bob's tunnel after bob's roles changed in the store")
}

// TestStreamLimitPerUser: a user at proxy_service.max_streams_per_user is
// refused one more stream with a one-line ResourceExhausted that names
// the setting; another user opens theirs; a closed stream frees a slot.
func TestStreamLimitPerUser(t *testing.T) {
	cfg := clustertest.Config(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"})
	cfg.Proxy.MaxStreamsPerUser = 2
	c := clustertest.StartConfig(t, cfg)
	bob, alice := c.AddUser(t, "bob", "dev"), c.AddUser(t, "alice", "dev")

	w := openWatch(t, bob)
	if _, err := w.next(t); err != nil {
		t.Fatal(err)
	}
	first := openTunnel(t, bob, "echo")

	// A third stream: a tunnel, then a watch.
	_, err := tunnel.NewClient(testkit.Dial(t, bob), "root.test").Dial(ctx(t), "echo", 5432, "")
	if !errors.Is(err, tunnel.ErrLimit) || !strings.Contains(err.Error(), "max_streams_per_user") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("bob's third stream (a tunnel): %v; want one line of ErrLimit naming max_streams_per_user", err)
	}
	if _, err := openWatch(t, bob).next(t); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("bob's third stream (a watch): %v; want ResourceExhausted", err)
	}
	// Alice is not affected; bob's open streams work on.
	openTunnel(t, alice, "echo")
	openTunnel(t, alice, "echo")
	stillOpen(t, first, "bob's first tunnel")

	first.Close()
	for {
		conn, err := tunnel.NewClient(testkit.Dial(t, bob), "root.test").Dial(ctx(t), "echo", 5432, "")
		if err == nil {
			conn.Close()
			break
		}
		if !errors.Is(err, tunnel.ErrLimit) {
			t.Fatal(err)
		}
		select { // the slot is given back when the proxy has seen the close
		case <-ctx(t).Done():
			t.Fatal("a closed tunnel did not give its slot back")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestMessageSizeLimit: a message over proxy_service.max_message_bytes is
// refused with ResourceExhausted and gRPC's line naming both sizes (gRPC
// writes that status itself; the proxy's log names the setting).
func TestMessageSizeLimit(t *testing.T) {
	cfg := clustertest.Config(t, "root.test", "proxy.root.test")
	cfg.Proxy.MaxMessageBytes = 256 << 10
	c := clustertest.StartConfig(t, cfg)
	st, err := api.NewTunnelClient(testkit.Dial(t, c.AddUser(t, "bob", "dev"))).Dial(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&api.Frame{Dial: &api.DialRequest{App: strings.Repeat("a", 300<<10)}}); err != nil {
		t.Fatal(err)
	}
	_, err = st.Recv()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "262144") {
		t.Fatalf("an over-sized message: %v; want ResourceExhausted naming the limit", err)
	}
	// The connection serves the next call.
	if _, err := api.NewClusterClient(testkit.Dial(t, c.Admin(t))).Status(ctx(t), &api.StatusRequest{}); err != nil {
		t.Fatal(err)
	}
}

// stubborn joins c as an agent serving app "stubborn" (leaf false) or
// as leaf cluster "leaf.test" (leaf true), answers every dial by echoing,
// and never closes a connection it answered: whether a removed
// machine's connections end is the proxy's doing, not the machine's
// good will. It returns the agent's ID or the leaf's name.
func stubborn(t *testing.T, c *clustertest.Cluster, leaf bool) string {
	t.Helper()
	typ, prefix := auth.TokenTypeApp, auth.AgentUserPrefix
	if leaf {
		typ, prefix = auth.TokenTypeTrustedCluster, auth.LeafUserPrefix
	}
	token, _, err := c.Daemon.Auth().AddJoinToken(ctx(t), typ, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	conn, trustedCA, err := mtls.DialPinned(c.Addr, func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	key, err := mtls.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	req := &api.JoinRequest{Token: token, PublicKey: key.PubDER, HostName: "leaf.test"}
	var res *api.JoinResponse
	if leaf {
		res, err = api.NewTrustClient(conn).Join(ctx(t), req)
	} else {
		res, err = api.NewAgentClient(conn).Join(ctx(t), req)
	}
	if err != nil {
		t.Fatal(err)
	}
	p := &profile.Profile{
		ProxyAddr: c.Addr, ClusterName: res.GetClusterName(), User: prefix + res.GetAgentId(),
		CertPEM: res.GetCertificatePem(), KeyPEM: key.PEM,
		CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: trustedCA().Raw}),
	}
	mc := testkit.Dial(t, p)
	// The control stream, as an agent's or a leaf's.
	var (
		recv  func() (*api.ProxyMessage, error)
		beat  func() error
		sctx  context.Context
		first error
	)
	if leaf {
		st, err := api.NewTrustClient(mc).Control(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		first = st.Send(&api.LeafMessage{Hello: &api.LeafHello{ProxyPublicAddr: "proxy.leaf.test:3080"}})
		recv, beat, sctx = st.Recv, func() error { return st.Send(&api.LeafMessage{Heartbeat: true}) }, st.Context()
	} else {
		st, err := api.NewAgentClient(mc).Control(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		first = st.Send(&api.AgentMessage{Register: &api.AgentRegister{Apps: []*api.App{{Name: "stubborn", Uri: "tcp://stubborn.internal:80"}}}})
		recv, beat, sctx = st.Recv, func() error { return st.Send(&api.AgentMessage{Heartbeat: true}) }, st.Context()
	}
	if first != nil {
		t.Fatal(first)
	}
	go func() {
		for {
			m, err := recv()
			if err != nil {
				return // removed: it says nothing and keeps what it has
			}
			if d := m.GetDial(); d != nil {
				go func() {
					tc, err := tunnel.Answer(context.Background(), mc, d.GetId(), d.GetApp(), nil)
					if err == nil {
						io.Copy(tc, tc)
					}
				}()
			}
		}
	}()
	go func() { // heartbeats, until the stream is refused
		for beat() == nil {
			select {
			case <-sctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return res.GetAgentId()
}

// dialStubborn dials the stubborn machine's app as p (in leaf, if set)
// until it is registered, and checks that it echoes.
func dialStubborn(t *testing.T, p *profile.Profile, leaf string) *tunnel.Conn {
	t.Helper()
	tc, wait := tunnel.NewClient(testkit.Dial(t, p), "root.test"), ctx(t)
	for {
		conn, err := tc.DialIn(wait, leaf, "stubborn", 80, "")
		if err == nil {
			t.Cleanup(func() { conn.Close() })
			stillOpen(t, conn, "the tunnel through the stubborn machine")
			return conn
		}
		if !errors.Is(err, tunnel.ErrNotFound) && !errors.Is(err, tunnel.ErrRefused) {
			t.Fatal(err)
		}
		select {
		case <-wait.Done():
			t.Fatal("the stubborn machine's app never answered")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestLeafRemovedEndsTunnels: removing a leaf's trust (through this proxy,
// or in the store) ends the users' tunnels to it even though the leaf
// keeps them open itself.
func TestLeafRemovedEndsTunnels(t *testing.T) {
	for _, tt := range []struct {
		name    string
		recheck time.Duration
		remove  func(t *testing.T, c *clustertest.Cluster)
	}{
		{"rm remote_cluster", time.Hour, func(t *testing.T, c *clustertest.Cluster) {
			if _, err := api.NewClusterClient(testkit.Dial(t, c.Admin(t))).DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "remote_cluster", Name: "leaf.test"}); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed elsewhere", 20 * time.Millisecond, func(t *testing.T, c *clustertest.Cluster) {
			if err := c.Daemon.Auth().RemoveLeaf(ctx(t), "leaf.test"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxy.SetRecheckInterval(t, tt.recheck)
			c := startCluster(t)
			bob := c.AddUser(t, "bob", "dev")
			stubborn(t, c, true)
			conn := dialStubborn(t, bob, "leaf.test")
			tt.remove(t, c)
			waitCut(t, conn, "the tunnel to the removed leaf")
		})
	}
}

// TestAgentRemovedEndsTunnels: an agent removed, through this proxy or
// elsewhere (the store, as another proxy sharing it does), loses the
// users' tunnels through it even though it keeps them open itself.
func TestAgentRemovedEndsTunnels(t *testing.T) {
	for _, tt := range []struct {
		name    string
		recheck time.Duration
		remove  func(t *testing.T, c *clustertest.Cluster, id string)
	}{
		{"agents rm", time.Hour, func(t *testing.T, c *clustertest.Cluster, id string) {
			if _, err := api.NewClusterClient(testkit.Dial(t, c.Admin(t))).RemoveAgent(ctx(t), &api.RemoveAgentRequest{Id: id}); err != nil {
				t.Fatal(err)
			}
		}},
		{"removed elsewhere", 20 * time.Millisecond, func(t *testing.T, c *clustertest.Cluster, id string) {
			if err := c.Daemon.Auth().RemoveAgent(ctx(t), id); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxy.SetRecheckInterval(t, tt.recheck)
			c := startCluster(t)
			bob := c.AddUser(t, "bob", "dev")
			id := stubborn(t, c, false)
			conn := dialStubborn(t, bob, "")
			tt.remove(t, c, id)
			waitCut(t, conn, "the tunnel through the removed agent")
		})
	}
}

// TestStreamLimitPerConnection: past proxy_service.max_streams_per_connection
// a connection's next call waits for a stream to end (HTTP/2
// MaxConcurrentStreams) while another connection of the same user is
// served.
func TestStreamLimitPerConnection(t *testing.T) {
	cfg := clustertest.Config(t, "root.test", "proxy.root.test")
	cfg.Proxy.MaxStreamsPerConnection = 1
	c := clustertest.StartConfig(t, cfg)
	bob := c.AddUser(t, "bob", "dev")
	conn := testkit.Dial(t, bob)
	wctx, stop := context.WithCancel(ctx(t))
	st, err := api.NewClusterClient(conn).WatchCatalog(wctx, &api.WatchCatalogRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	// The bound only ends the wait: the call cannot get a stream while
	// the watch holds the connection's one.
	short, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
	defer cancel()
	if _, err := api.NewClusterClient(conn).ListApps(short, &api.ListAppsRequest{}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a second stream on the connection: %v; want it to wait", err)
	}
	if _, err := api.NewClusterClient(testkit.Dial(t, bob)).ListApps(ctx(t), &api.ListAppsRequest{}); err != nil {
		t.Fatalf("another connection: %v", err)
	}
	stop()
	if _, err := api.NewClusterClient(conn).ListApps(ctx(t), &api.ListAppsRequest{}); err != nil {
		t.Fatalf("after the watch ended: %v", err)
	}
}

// TestUsersRmThroughAnotherProxy: two proxies on one etcd; 'users rm bob'
// through A ends bob's watch and tunnel held at B (B's recheck, every
// second by default).
func TestUsersRmThroughAnotherProxy(t *testing.T) {
	url := etcdtest.Start(t)
	start := func() *clustertest.Cluster {
		cfg := clustertest.Config(t, "root.test", "proxy.root.test",
			clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"})
		cfg.Storage = config.Storage{Type: config.StorageEtcd, Peers: []string{url}, Prefix: "/streams/"}
		return clustertest.StartConfig(t, cfg)
	}
	a, b := start(), start()
	bob := a.AddUser(t, "bob", "dev")
	bob.ProxyAddr = b.Addr
	w := openWatch(t, bob)
	if _, err := w.next(t); err != nil {
		t.Fatal(err)
	}
	conn := openTunnel(t, bob, "echo")

	res, err := api.NewClusterClient(testkit.Dial(t, a.Admin(t))).DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "user", Name: "bob"})
	if err != nil || res.GetSessionsClosed() != 0 {
		t.Fatalf("users rm bob through A: %v, %d closed at A; want 0 (bob's streams are at B)", err, res.GetSessionsClosed())
	}
	if u, err := w.next(t); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("bob's watch at B after users rm through A: update %v, err %v; want PermissionDenied", u, err)
	}
	waitCut(t, conn, "bob's tunnel at B after users rm through A")
}
