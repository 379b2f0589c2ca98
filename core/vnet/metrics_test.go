package vnet_test

import (
	"context"
	"io"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/metrics/metricstest"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/vnet"
	"github.com/vnetproject/vnet/core/vnet/vnetmetrics"
)

// TestSystemMetrics: what clients do through VNet moves its metrics: DNS
// queries by outcome, dials by outcome, a relayed connection and its
// bytes.
func TestSystemMetrics(t *testing.T) {
	testkit.CheckGoroutines(t)
	c := clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"},
		clustertest.App{Name: "down", URI: "tcp://" + testkit.ClosedPort(t), PublicAddr: "down.company.test"},
	)
	clustertest.CreateResource(t, c.Admin(t), vnetConfig("", "company.test"))
	reg := prometheus.NewRegistry()
	m := vnetmetrics.New(reg)
	alice := c.AddUser(t, "alice", "dev")
	w := startVNetMetered(t, 0, nil, m, alice)

	echo := w.resolve(t, "echo.company.test")
	down := w.resolve(t, "down.company.test")
	if got := w.query(t, "only-upstream.test.", mdns.TypeA); len(got.Answer) != 1 {
		t.Fatalf("forwarded query: %v", got)
	}
	w.echo(t, hostAddr, netip.AddrPortFrom(echo, 80))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if conn, err := w.host.DialTCP(ctx, hostAddr, netip.AddrPortFrom(down, 80)); err == nil {
		conn.Close()
		t.Fatal("dial of an app that is down succeeded")
	}
	conn := w.dial(t, hostAddr, netip.AddrPortFrom(echo, 80))
	testkit.Eventually(t, "a connection counted as active", func() bool {
		return metricstest.Values(t, reg)["vnet_connections_active"] == 1
	})
	conn.(interface{ CloseWrite() error }).CloseWrite()
	if bye, err := io.ReadAll(conn); err != nil || string(bye) != "bye" {
		t.Fatalf("after CloseWrite: %q, %v", bye, err)
	}
	conn.Close()

	var got map[string]float64
	testkit.Eventually(t, "the connections' ends counted", func() bool {
		got = metricstest.Values(t, reg)
		return got["vnet_connections_active"] == 0 && got[`vnet_connection_bytes_total{direction="sent"}`] > 0
	})
	id := alice.ID()
	for series, want := range map[string]float64{
		`vnet_dns_queries_total{outcome="answered"}`:                                 2,
		`vnet_dns_queries_total{outcome="forwarded"}`:                                1,
		`vnet_dns_queries_total{outcome="failed"}`:                                   0,
		`vnet_dns_query_duration_seconds_count{outcome="forwarded"}`:                 1,
		`vnet_dial_duration_seconds_count{cluster="` + id + `",outcome="connected"}`: 2,
		`vnet_dial_duration_seconds_count{cluster="` + id + `",outcome="refused"}`:   1,
		`vnet_connection_bytes_total{direction="sent"}`:                              4,  // "ping"
		`vnet_connection_bytes_total{direction="received"}`:                          10, // "pingbye", then "bye"
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
}

// reconnects is a vnet.Metrics that counts TunnelReady only.
type reconnects struct {
	vnet.Metrics // nil: the other methods are not called here
	n            atomic.Int64
}

func (r *reconnects) TunnelReady(string) { r.n.Add(1) }

// TestReconnectsCounted: a login's connection that is lost and comes back
// counts one reconnect; its first connection counts none.
func TestReconnectsCounted(t *testing.T) {
	testkit.CheckGoroutines(t)
	c := clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"})
	cut := clustertest.NewCutter(t, c.Addr)
	p := *c.AddUser(t, "alice", "dev")
	p.ProxyAddr = cut.Addr()
	clusters, err := vnet.Connect([]*profile.Profile{&p})
	if err != nil {
		t.Fatal(err)
	}
	defer clusters.Close()
	m := &reconnects{}
	clusters.SetMetrics(m)
	dial := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := clusters.DialApp(ctx, vnet.AppTarget{ClusterID: p.ID(), Cluster: "root.test", Via: p.ID(), App: "echo", Port: 80})
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial(); err != nil {
		t.Fatal(err)
	}
	if n := m.n.Load(); n != 0 {
		t.Fatalf("%d reconnects after the first connection, want 0", n)
	}
	cut.Cut()
	testkit.Eventually(t, "the dial to fail while cut", func() bool { return dial() != nil })
	cut.Restore()
	testkit.Eventually(t, "a dial through the restored path", func() bool { return dial() == nil })
	testkit.Eventually(t, "the reconnect counted", func() bool { return m.n.Load() == 1 })
}
