package proxy_test

import (
	"errors"
	"io"
	"testing"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/metrics/metricstest"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/tunnel"
)

// TestMetricsEndpoint: with metrics_addr the cluster serves /metrics, and
// what users do moves its counters: dials by outcome, a session and its
// bytes, a catalog watcher, a failed login, the RPCs' latency.
func TestMetricsEndpoint(t *testing.T) {
	cfg := clustertest.Config(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"},
		clustertest.App{Name: "down", URI: "tcp://" + testkit.ClosedPort(t), PublicAddr: "down.company.test"},
	)
	cfg.Proxy.MetricsAddr = "127.0.0.1:0"
	c := clustertest.StartConfig(t, cfg)
	url := "http://" + c.Daemon.MetricsAddr().String() + "/metrics"
	scrape := func() map[string]float64 { return metricstest.Scrape(t, url) }

	before := scrape()
	for _, series := range []string{
		`vnet_proxy_dials_total{outcome="established"}`,
		`vnet_proxy_dials_total{outcome="denied"}`,
		`vnet_proxy_sessions_active`,
		`vnet_proxy_agents_connected`,
		`vnet_proxy_catalog_watchers`,
	} {
		if v, ok := before[series]; !ok || v != 0 {
			t.Errorf("at start %s = %v (present %v), want 0", series, v, ok)
		}
	}

	alice := c.AddUser(t, "alice", "dev")
	conn := testkit.Dial(t, alice)
	tc := tunnel.NewClient(conn, "root.test")
	app, err := tc.Dial(ctx(t), "echo", 80, "")
	if err != nil {
		t.Fatal(err)
	}
	if v := scrape()["vnet_proxy_sessions_active"]; v != 1 {
		t.Errorf("with a session open: vnet_proxy_sessions_active = %v, want 1", v)
	}
	app.Write([]byte("hello"))
	app.CloseWrite()
	if got, err := io.ReadAll(app); err != nil || string(got) != "hellobye" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	app.Close()
	for _, name := range []string{"down", "no-such-app"} {
		if _, err := tc.Dial(ctx(t), name, 80, ""); err == nil {
			t.Fatalf("dial %s succeeded", name)
		}
	}
	nobody := tunnel.NewClient(testkit.Dial(t, c.AddUser(t, "nobody")), "root.test")
	if _, err := nobody.Dial(ctx(t), "echo", 80, ""); !errors.Is(err, tunnel.ErrDenied) {
		t.Fatalf("dial by a user without roles: %v, want denied", err)
	}
	if _, err := profile.Login(ctx(t), c.Addr, "alice", "not-a-token", func(string) error { return nil }); err == nil {
		t.Fatal("login with a bad token succeeded")
	}
	watch, err := api.NewClusterClient(conn).WatchCatalog(ctx(t), &api.WatchCatalogRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}

	// The session's end is counted when its relay ends, just after the
	// client saw EOF.
	var after map[string]float64
	testkit.Eventually(t, "the session's end counted", func() bool {
		after = scrape()
		return after["vnet_proxy_sessions_active"] == 0
	})
	for series, want := range map[string]float64{
		`vnet_proxy_dials_total{outcome="established"}`:                                  1,
		`vnet_proxy_dials_total{outcome="refused"}`:                                      1,
		`vnet_proxy_dials_total{outcome="not_found"}`:                                    1,
		`vnet_proxy_dials_total{outcome="denied"}`:                                       1,
		`vnet_proxy_dials_total{outcome="internal"}`:                                     0,
		`vnet_proxy_session_bytes_total{direction="to_app"}`:                             5,
		`vnet_proxy_session_bytes_total{direction="from_app"}`:                           8,
		`vnet_proxy_login_failures_total{method="token",reason="rejected"}`:              1,
		`vnet_proxy_login_failures_total{method="password",reason="rejected"}`:           0,
		`vnet_proxy_catalog_watchers`:                                                    1,
		`vnet_proxy_rpc_duration_seconds_count{code="OK",method="/vnet.v1.Tunnel/Dial"}`: 4,
	} {
		if got := after[series]; got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}
