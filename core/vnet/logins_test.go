package vnet_test

import (
	"context"
	"io"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/testkit"
)

// TestSystemLoginsFollowTheUser: a login, a re-login and a logout under
// the profiles' home reach a running VNet without a restart; a re-login
// lets the old certificate's connections finish, a logout cuts them.
func TestSystemLoginsFollowTheUser(t *testing.T) {
	testkit.CheckGoroutines(t)
	a := clustertest.Start(t, "a.test", "proxy.a.test",
		clustertest.App{Name: "app-a", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "app.a-zone.test"})
	b := clustertest.Start(t, "b.test", "proxy.b.test",
		clustertest.App{Name: "app-b", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "app.b-zone.test"})
	clustertest.CreateResource(t, a.Admin(t), vnetConfig("100.64.0.0/16", "a-zone.test"))
	rangeB := netip.MustParsePrefix("100.80.0.0/16")
	clustertest.CreateResource(t, b.Admin(t), vnetConfig(rangeB.String(), "b-zone.test"))

	home := t.TempDir()
	pa := a.AddUser(t, "alice", "dev")
	if err := profile.Save(home, pa); err != nil {
		t.Fatal(err)
	}
	w := startVNet(t, pa)
	ctx, cancel := context.WithCancel(context.Background())
	following := make(chan struct{})
	go func() { defer close(following); w.clusters.Follow(ctx, home, w.catalog) }()
	t.Cleanup(func() { cancel(); <-following })

	resolves := func(name string) bool {
		r := w.query(t, name, mdns.TypeA)
		return r.Rcode == mdns.RcodeSuccess && len(r.Answer) == 1
	}
	if resolves("app.b-zone.test") {
		t.Fatal("app.b-zone.test resolves before the login to b")
	}

	// A login while VNet runs.
	if err := profile.Save(home, b.AddUser(t, "alice", "dev")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "b's app after the login", func() bool { return resolves("app.b-zone.test") })
	ipB := w.resolve(t, "app.b-zone.test")
	if !rangeB.Contains(ipB) {
		t.Fatalf("app.b-zone.test = %s, want it in %s", ipB, rangeB)
	}
	w.echo(t, hostAddr, netip.AddrPortFrom(ipB, 80))

	// A connection open across a re-login keeps working; new ones use
	// the new certificate.
	open := w.dial(t, hostAddr, netip.AddrPortFrom(ipB, 80))
	if err := profile.Save(home, b.AddUser(t, "bob", "dev")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the re-login", func() bool {
		for _, p := range w.clusters.Profiles() {
			if p.ID() == b.Addr && p.User == "bob" {
				return true
			}
		}
		return false
	})
	if _, err := open.Write([]byte("still")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(open, buf); err != nil || string(buf) != "still" {
		t.Fatalf("a connection open across a re-login: %q, %v", buf, err)
	}
	w.echo(t, hostAddr, netip.AddrPortFrom(w.resolve(t, "app.b-zone.test"), 80))

	// A logout: the names go, and the open connection is cut.
	if err := profile.Remove(home, b.Addr); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "b's app to go after the logout", func() bool { return !resolves("app.b-zone.test") })
	if _, err := io.ReadAll(open); err == nil {
		// A cut connection ends with a reset, not a clean EOF.
		t.Fatal("the connection of a logged-out cluster ended cleanly, want a reset")
	}
	w.echo(t, hostAddr, netip.AddrPortFrom(w.resolve(t, "app.a-zone.test"), 80))
}
