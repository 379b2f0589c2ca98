package proxy_test

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/tunnel"
)

// loopbackPeer tells an address the test's own connection came from: the
// proxy listens on loopback, whatever the client claims.
func loopbackPeer(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// TestAuditRecordsPeerAddress: the audit log's client address is the
// address the proxy saw the connection come from; what the client claims
// is kept apart, as client_reported_addr, for sessions and rejections.
func TestAuditRecordsPeerAddress(t *testing.T) {
	c := labelledCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	create(t, admin, prodOnly, false)
	alice := c.AddUser(t, "alice", "dev")
	bob := c.AddUser(t, "bob", "prod-only")

	const aliceClaims, bobClaims = "203.0.113.9:1234", "198.51.100.7:1"
	conn, err := tunnel.NewClient(testkit.Dial(t, alice), "root.test").Dial(ctx(t), "dev-db", 5432, aliceClaims)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if _, err := tunnel.NewClient(testkit.Dial(t, bob), "root.test").Dial(ctx(t), "dev-db", 5432, bobClaims); !errors.Is(err, tunnel.ErrDenied) {
		t.Fatalf("bob's dial: %v, want ErrDenied", err)
	}
	evs := waitForEvents(t, admin, &api.SearchAuditRequest{}, func(evs []audit.Event) bool {
		return slices.ContainsFunc(evs, func(ev audit.Event) bool { return ev.Type == audit.SessionEnd && ev.User == "alice" }) &&
			slices.ContainsFunc(evs, func(ev audit.Event) bool { return ev.Type == audit.SessionRejected && ev.User == "bob" })
	})
	seen := 0
	for _, ev := range evs {
		claims := map[string]string{"alice": aliceClaims, "bob": bobClaims}[ev.User]
		if claims == "" {
			continue
		}
		seen++
		if !loopbackPeer(ev.ClientAddr) || ev.ClientReportedAddr != claims {
			t.Errorf("%s of %s: client_addr %q, client_reported_addr %q; want the loopback peer and %q", ev.Type, ev.User, ev.ClientAddr, ev.ClientReportedAddr, claims)
		}
	}
	if seen != 3 {
		t.Errorf("%d events of alice and bob, want 3 (start, end, rejection): %+v", seen, evs)
	}
}

// TestAuditBoundsLongFields: a dial that sends huge strings is audited
// with each field cut to its bound.
func TestAuditBoundsLongFields(t *testing.T) {
	c := labelledCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	alice := c.AddUser(t, "alice", "dev")
	long := strings.Repeat("x", 20_000)
	if _, err := tunnel.NewClient(testkit.Dial(t, alice), "root.test").Dial(ctx(t), "no-"+long, 5432, "192.0.2.1:"+long); err == nil {
		t.Fatal("a dial of an app that does not exist succeeded")
	}
	evs := waitForEvents(t, admin, &api.SearchAuditRequest{User: "alice"}, func(evs []audit.Event) bool {
		return slices.ContainsFunc(evs, func(ev audit.Event) bool { return ev.Type == audit.SessionRejected })
	})
	for _, ev := range evs {
		if len(ev.App) > audit.MaxFieldLen || len(ev.ClientReportedAddr) > audit.MaxFieldLen || len(ev.Error) > audit.MaxErrorLen ||
			!strings.HasPrefix(ev.App, "no-xxx") || !strings.Contains(ev.App, "more bytes)") {
			t.Errorf("event with app of %d bytes, client_reported_addr of %d, error of %d; want at most %d, %d and %d, cut with a marker",
				len(ev.App), len(ev.ClientReportedAddr), len(ev.Error), audit.MaxFieldLen, audit.MaxFieldLen, audit.MaxErrorLen)
		}
	}
}

// TestDialFieldsAreBounded: a dial whose app name or client address is
// longer than any name or address is refused, saying so, before the app
// is looked up.
func TestDialFieldsAreBounded(t *testing.T) {
	c := labelledCluster(t)
	alice := c.AddUser(t, "alice", "dev")
	client := tunnel.NewClient(testkit.Dial(t, alice), "root.test")
	for _, tc := range []struct{ app, addr, want string }{
		{strings.Repeat("a", 254), "192.0.2.1:1", "the app name is 254 bytes, at most 253"},
		{"db", "192.0.2.1:" + strings.Repeat("1", 200), "the client address is 210 bytes, at most 128"},
	} {
		_, err := client.Dial(ctx(t), tc.app, 5432, tc.addr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("dial of a %d-byte app from a %d-byte address: %v, want %q", len(tc.app), len(tc.addr), err, tc.want)
		}
	}
}
