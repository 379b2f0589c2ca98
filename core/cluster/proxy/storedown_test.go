package proxy_test

import (
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/cluster/store/etcdtest"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/tunnel"
)

// TestStoreDownAuthorizesFromCopy: a proxy whose etcd stops answering
// (here its connection is cut; the e2e stops two of three members) keeps
// authorizing new dials from its copy of the store: a known user reaches
// an app, a user removed before the outage stays refused; writes fail
// with one line naming the store, and Status says it is unavailable;
// when etcd answers again everything works as before.
func TestStoreDownAuthorizesFromCopy(t *testing.T) {
	etcdURL := etcdtest.Start(t)
	cut := clustertest.NewCutter(t, strings.TrimPrefix(etcdURL, "http://"))
	cfg := clustertest.Config(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"})
	cfg.Storage = config.Storage{Type: config.StorageEtcd, Peers: []string{"http://" + cut.Addr()}}
	c := clustertest.StartConfig(t, cfg)
	alice := c.AddUser(t, "alice", "dev")
	bob := c.AddUser(t, "bob", "dev")
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	if _, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "user", Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	m := c.Daemon.Store().(*store.Mirror)
	_, rev, err := m.Snapshot(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the copy has bob's removal", func() bool { return m.Revision() >= rev })

	cut.Cut()
	dial := func(who string, tc *tunnel.Client) error {
		conn, err := tc.Dial(ctx(t), "echo", 7, "100.64.0.1:40000")
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("hi")); err != nil {
			return err
		}
		buf := make([]byte, 2)
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("%s: echo = %q, %v", who, buf, err)
		}
		return nil
	}
	// A new connection (and a new gRPC connection: its certificate is
	// checked against the user's record) is authorized from the copy.
	if err := dial("alice", tunnel.NewClient(testkit.Dial(t, alice), "root.test")); err != nil {
		t.Fatalf("alice's dial with the store down: %v", err)
	}
	if err := dial("bob", tunnel.NewClient(testkit.Dial(t, bob), "root.test")); err == nil {
		t.Fatal("bob, removed before the store went down, reached the app")
	}
	_, err = admin.CreateResource(ctx(t), &api.CreateResourceRequest{Yaml: []byte(
		"kind: app\nversion: v1\nmetadata:\n  name: new\nspec:\n  uri: tcp://127.0.0.1:9\n  public_addr: new.company.test\n")})
	if status.Code(err) != codes.Unavailable || !strings.HasPrefix(status.Convert(err).Message(), "store unavailable: etcd at http://"+cut.Addr()) {
		t.Fatalf("create with the store down = %v; want Unavailable, \"store unavailable: etcd at http://%s ...\"", err, cut.Addr())
	}
	st, err := admin.Status(ctx(t), &api.StatusRequest{})
	if err != nil || !strings.HasPrefix(st.GetStoreUnavailable(), "store unavailable: etcd") || st.GetStore() != "etcd at http://"+cut.Addr() {
		t.Fatalf("Status with the store down = %v, %v; want the store and why it is unavailable", st, err)
	}
	apps, err := api.NewClusterClient(testkit.Dial(t, alice)).ListApps(ctx(t), &api.ListAppsRequest{})
	if err != nil || len(apps.GetApps()) != 1 || apps.GetStoreUnavailable() == "" {
		t.Fatalf("ListApps with the store down = %v, %v; want echo, and the store unavailable", apps, err)
	}

	cut.Restore()
	testkit.Eventually(t, "the store is back in Status", func() bool {
		st, err := admin.Status(ctx(t), &api.StatusRequest{})
		return err == nil && st.GetStoreUnavailable() == ""
	})
	if _, err := admin.CreateResource(ctx(t), &api.CreateResourceRequest{Yaml: []byte(
		"kind: app\nversion: v1\nmetadata:\n  name: new\nspec:\n  uri: tcp://127.0.0.1:9\n  public_addr: new.company.test\n")}); err != nil {
		t.Fatalf("create after the store came back: %v", err)
	}
	if err := dial("alice", tunnel.NewClient(testkit.Dial(t, alice), "root.test")); err != nil {
		t.Fatalf("alice after the store came back: %v", err)
	}
}
