package vnet_test

import (
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/vnet"
)

// greeting is what the app at addr says to a new connection.
func (w *world) greeting(t testing.TB, addr netip.AddrPort) string {
	t.Helper()
	conn := w.dial(t, hostAddr, addr)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return string(got)
}

// TestSystemSameClusterName: two logins whose clusters report the same
// name are kept apart by who they are (their proxy address): each app is
// reached at its own address through its own cluster's tunnel, by its
// default address under its proxy's host; a zone both claim belongs to the
// first login, and the second's claim is refused and shown.
func TestSystemSameClusterName(t *testing.T) {
	testkit.CheckGoroutines(t)
	a := clustertest.Start(t, "same.test", "proxy.a.test",
		clustertest.App{Name: "app", URI: "tcp://" + clustertest.GreeterServer(t, "from a")},
		clustertest.App{Name: "shared", URI: "tcp://" + clustertest.GreeterServer(t, "shared of a"), PublicAddr: "x.shared.test"})
	b := clustertest.Start(t, "same.test", "proxy.b.test",
		clustertest.App{Name: "app", URI: "tcp://" + clustertest.GreeterServer(t, "from b")},
		clustertest.App{Name: "shared", URI: "tcp://" + clustertest.GreeterServer(t, "shared of b"), PublicAddr: "x.shared.test"})
	clustertest.CreateResource(t, a.Admin(t), vnetConfig("", "shared.test"))
	rangeB := netip.MustParsePrefix("10.120.0.0/16")
	clustertest.CreateResource(t, b.Admin(t), vnetConfig(rangeB.String(), "shared.test"))
	pa, pb := a.AddUser(t, "alice", "dev"), b.AddUser(t, "alice", "dev")
	w := startVNet(t, pa, pb)
	w.waitSettings(t, "both ranges and proxy domains", func(s netcfg.Settings) bool {
		return slices.Contains(s.Routes, rangeB) && slices.Contains(s.DNSZones, "proxy.b.test")
	})

	ipA, ipB := w.resolve(t, "app.proxy.a.test"), w.resolve(t, "APP.proxy.b.test.")
	if !netip.MustParsePrefix("100.64.0.0/10").Contains(ipA) || !rangeB.Contains(ipB) {
		t.Fatalf("app.proxy.a.test = %s, app.proxy.b.test = %s: want each in its own cluster's range", ipA, ipB)
	}
	if got := w.greeting(t, netip.AddrPortFrom(ipA, 80)); got != "from a" {
		t.Errorf("a's app answered %q", got)
	}
	if got := w.greeting(t, netip.AddrPortFrom(ipB, 80)); got != "from b" {
		t.Errorf("b's app answered %q: a connection went to the wrong cluster", got)
	}
	if got := w.greeting(t, netip.AddrPortFrom(w.resolve(t, "x.shared.test"), 80)); got != "shared of a" {
		t.Errorf("x.shared.test answered %q, want the first login's app", got)
	}

	st := w.engine.Status()
	var ids []string
	for _, c := range st.Clusters {
		ids = append(ids, c.Name+"@"+c.ID)
	}
	if want := []string{"same.test@" + pa.ID(), "same.test@" + pb.ID()}; !slices.Equal(ids, want) {
		t.Errorf("status clusters = %v, want %v", ids, want)
	}
	i := slices.IndexFunc(st.Refused, func(r catalog.Refusal) bool {
		return r.Kind == catalog.KindZone && r.Claim == "shared.test" && r.Cluster == pb.ID() && r.Holder == pa.ID()
	})
	if i < 0 {
		t.Errorf("status refused = %+v, want b's shared.test refused in favour of a", st.Refused)
	}
	for _, app := range st.Apps {
		switch {
		case app.Name == "shared" && app.ClusterID == pb.ID():
			if app.IPv4.IsValid() || !strings.Contains(app.Unreachable, "shared.test") {
				t.Errorf("b's shared app: %+v, want no address and why", app)
			}
		case app.Name == "app" && app.ClusterID == pb.ID():
			if app.PublicAddr != "app.proxy.b.test" || !app.DefaultAddr || app.IPv4 != ipB {
				t.Errorf("b's default-address app: %+v", app)
			}
		}
	}
	// FirstApps (what `vnet up` prints) is Status's apps at an address,
	// cut after n, with the count of them all; b's shared app has none.
	addressed := slices.DeleteFunc(slices.Clone(st.Apps), func(a vnet.AppStatus) bool { return !a.IPv4.IsValid() })
	for n := range len(addressed) + 2 {
		first, count := w.engine.FirstApps(n)
		if want := addressed[:min(n, len(addressed))]; !slices.Equal(first, want) || count != len(addressed) {
			t.Errorf("FirstApps(%d) = %+v, %d; want %+v, %d", n, first, count, want, len(addressed))
		}
	}
}

// TestSystemRefusedRange: a range that covers what the machine uses, or
// overlaps an earlier login's, is neither routed nor used; its apps
// answer without an address, status says why, and the rest works.
func TestSystemRefusedRange(t *testing.T) {
	testkit.CheckGoroutines(t)
	a := clustertest.Start(t, "a.test", "proxy.a.test",
		clustertest.App{Name: "app", URI: "tcp://" + clustertest.EchoServer(t)})
	b := clustertest.Start(t, "b.test", "proxy.b.test",
		clustertest.App{Name: "app", URI: "tcp://" + clustertest.EchoServer(t)})
	c := clustertest.Start(t, "c.test", "proxy.c.test",
		clustertest.App{Name: "app", URI: "tcp://" + clustertest.EchoServer(t)})
	clustertest.CreateResource(t, b.Admin(t), vnetConfig("100.120.0.0/16")) // inside a's
	clustertest.CreateResource(t, c.Admin(t), vnetConfig("10.53.0.0/16"))   // covers the resolver
	resolver := netip.MustParsePrefix("10.53.0.53/32")
	pa, pb, pc := a.AddUser(t, "alice", "dev"), b.AddUser(t, "alice", "dev"), c.AddUser(t, "alice", "dev")
	w := startVNetWith(t, 0, func() []netip.Prefix { return []netip.Prefix{resolver} }, pa, pb, pc)
	s := w.waitSettings(t, "all three clusters' domains", func(s netcfg.Settings) bool {
		return slices.Contains(s.DNSZones, "proxy.c.test") && slices.Contains(s.DNSZones, "proxy.b.test")
	})
	if want := []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10"), ula}; !slices.Equal(s.Routes, want) {
		t.Errorf("routes = %v, want only a's range (and the ULA)", s.Routes)
	}
	w.echo(t, hostAddr, netip.AddrPortFrom(w.resolve(t, "app.proxy.a.test"), 80))
	for _, name := range []string{"app.proxy.b.test", "app.proxy.c.test"} {
		if resp := w.query(t, name, mdns.TypeA); resp.Rcode != mdns.RcodeSuccess || len(resp.Answer) != 0 {
			t.Errorf("A %s: %s with %d answers, want NODATA (VNet's name, no address)", name, mdns.RcodeToString[resp.Rcode], len(resp.Answer))
		}
	}
	var st vnet.Status
	testkit.Eventually(t, "the range refusals in status", func() bool {
		st = w.engine.Status()
		return len(st.Refused) == 2
	})
	for i, want := range []struct{ id, why string }{{pb.ID(), "overlaps 100.64.0.0/10"}, {pc.ID(), "covers 10.53.0.53/32"}} {
		if r := st.Refused[i]; r.Kind != catalog.KindRange || r.Cluster != want.id || !strings.Contains(r.Reason, want.why) {
			t.Errorf("refusal %d = %+v, want %s: %s", i, r, want.id, want.why)
		}
	}
	for _, app := range st.Apps {
		if app.ClusterID != pa.ID() && (app.IPv4.IsValid() || !strings.Contains(app.Unreachable, "range")) {
			t.Errorf("app of a refused range: %+v", app)
		}
	}
}
