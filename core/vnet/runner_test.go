package vnet_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/stack"
	"github.com/vnetproject/vnet/core/stack/stacktest"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/vnet"
)

// pipeHost is a Host over one end of an in-memory pipe; a netstack on the
// other end plays the OS.
type pipeHost struct {
	vnet.PacketIO
	applied chan netcfg.Settings
	local   []netip.Prefix
}

func (h *pipeHost) ApplySettings(_ context.Context, s netcfg.Settings) error {
	h.applied <- s
	return nil
}

func (h *pipeHost) LocalPrefixes() []netip.Prefix { return h.local }

// TestRunnerServes starts VNet the way `vnet up` and the bridge do: Open
// loads the login saved in a profile directory and keeps the machine's
// state files, Run serves on a host, and Close releases it all.
func TestRunnerServes(t *testing.T) {
	testkit.CheckGoroutines(t)
	c := clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"},
	)
	clustertest.CreateResource(t, c.Admin(t), vnetConfig("", "company.test"))
	home := t.TempDir()
	if err := profile.Save(home, c.AddUser(t, "alice", "dev")); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(home, "state")
	r, err := vnet.Open(vnet.Options{
		ProfileDir: home,
		StateDir:   state,
		Upstream:   []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")},
		IPv6:       true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if o := r.Options(); o.MTU != vnet.DefaultMTU || o.UpstreamTimeout != vnet.DefaultUpstreamTimeout {
		t.Errorf("options without defaults: %+v", o)
	}
	for _, f := range []string{vnet.ULAFile, vnet.SecretFile} {
		if _, err := os.Stat(filepath.Join(state, f)); err != nil {
			t.Errorf("state file: %v", err)
		}
	}
	if st := r.Status(); st.Running {
		t.Errorf("running before Run: %+v", st)
	}

	vnetEnd, hostEnd := stacktest.Pipe(512)
	w := &world{}
	w.host, err = stack.New(stack.Config{IO: hostEnd, Addresses: []netip.Addr{hostAddr}})
	if err != nil {
		t.Fatal(err)
	}
	hostCtx, hostCancel := context.WithCancel(context.Background())
	go w.host.Run(hostCtx)
	t.Cleanup(func() { hostCancel(); w.host.Close() })

	h := &pipeHost{PacketIO: vnetEnd, applied: make(chan netcfg.Settings, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, h) }()
	s := <-h.applied
	if !slices.Contains(s.DNSZones, "company.test") || !s.TunAddr6.IsValid() || s.MTU != vnet.DefaultMTU {
		t.Errorf("settings %+v: want company.test captured, IPv6 and the default MTU", s)
	}
	resp := w.query(t, "echo.company.test", mdns.TypeA)
	if len(resp.Answer) != 1 {
		t.Fatalf("A echo.company.test: %v", resp)
	}
	ip, _ := netip.AddrFromSlice(resp.Answer[0].(*mdns.A).A.To4())
	w.echo(t, hostAddr, netip.AddrPortFrom(ip, 5432))
	if st := r.Status(); !st.Running || len(st.Apps) != 1 || st.Apps[0].IPv4 != ip {
		t.Errorf("status %+v, want echo at %s", st, ip)
	}
	if err := r.Run(ctx, h); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	r.Close() // idempotent
}

// TestRunnerOpenNotLoggedIn: with no login there is nothing to run, and
// Open says so.
func TestRunnerOpenNotLoggedIn(t *testing.T) {
	home := t.TempDir()
	_, err := vnet.Open(vnet.Options{ProfileDir: home, StateDir: home, Upstream: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53")}})
	if err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Fatalf("Open with no login: %v", err)
	}
}

// TestFetchOffers lists what a login's cluster offers without a running
// VNet, as `vnet apps` does.
func TestFetchOffers(t *testing.T) {
	testkit.CheckGoroutines(t)
	c := clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"},
		clustertest.App{Name: "db", URI: "tcp://" + clustertest.EchoServer(t)},
	)
	clustertest.CreateResource(t, c.Admin(t), vnetConfig("", "company.test"))
	offers, err := vnet.FetchOffers(context.Background(), []*profile.Profile{c.AddUser(t, "alice", "dev")})
	if err != nil {
		t.Fatal(err)
	}
	if len(offers.Down) != 0 || len(offers.Apps) != 2 {
		t.Fatalf("offers %+v, want two apps and no login down", offers)
	}
	for _, a := range offers.Apps {
		switch a.Name {
		case "echo":
			if a.Cluster != "root.test" || a.Addr != "echo.company.test" || a.Unreachable != "" {
				t.Errorf("echo: %+v", a)
			}
		case "db": // no public_addr: named under its proxy's host
			if a.Addr != "db.proxy.root.test" || a.Unreachable != "" {
				t.Errorf("db: %+v", a)
			}
		}
	}
}
