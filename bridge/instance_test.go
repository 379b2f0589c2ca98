package main

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/stack"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/vnet/vnettest"
)

// query asks VNet's DNS server at server over UDP from the host stack.
func query(t *testing.T, host *stack.Stack, src netip.Addr, server netip.Addr, name string) *mdns.Msg {
	t.Helper()
	c, err := host.DialUDP(src, netip.AddrPortFrom(server, 53))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return vnettest.Query(t, c, name, mdns.TypeA)
}

// TestInstanceServes runs the whole path through the bridge's Go side:
// settings shaped for the Network Extension, DNS answers for an app and a
// forwarded name, a TCP round trip through the real cluster, status and
// diagnosis, and a stop that leaves nothing behind.
func TestInstanceServes(t *testing.T) {
	testkit.CheckGoroutines(t)
	w := newWorld(t)
	f := newFakeOS(t)
	in := f.start(t, w.config(`, "log_level": "debug"`))

	ts := <-f.settings
	if ts.IPv4 == nil || ts.DNS == nil || len(ts.IPv4.Addresses) != 1 || len(ts.DNS.Servers) == 0 {
		t.Fatalf("settings without IPv4 or DNS: %+v", ts)
	}
	if !ts.DNS.MatchDomainsNoSearch || !contains(ts.DNS.MatchDomains, "company.test") || !contains(ts.DNS.MatchDomains, "proxy.root.test") {
		t.Errorf("match domains %v (no search %v), want company.test and proxy.root.test, no search", ts.DNS.MatchDomains, ts.DNS.MatchDomainsNoSearch)
	}
	tun := netip.MustParseAddr(ts.IPv4.Addresses[0])
	dnsAddr := netip.MustParseAddr(ts.DNS.Servers[0])
	host := f.host(t, tun)

	resp := query(t, host, tun, dnsAddr, "echo.company.test")
	if resp.Rcode != mdns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Fatalf("A echo.company.test: %s, %d answers", mdns.RcodeToString[resp.Rcode], len(resp.Answer))
	}
	appIP, _ := netip.AddrFromSlice(resp.Answer[0].(*mdns.A).A.To4())
	if !routed(ts, appIP) {
		t.Errorf("app address %s is outside the routes %+v", appIP, ts.IPv4.IncludedRoutes)
	}
	if resp := query(t, host, tun, dnsAddr, "only-upstream.test"); len(resp.Answer) != 1 || resp.Answer[0].(*mdns.A).A.String() != "192.0.2.50" {
		t.Errorf("forwarded name: %v", resp.Answer)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := host.DialTCP(ctx, tun, netip.AddrPortFrom(appIP, 5432))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("through the bridge ", 10000)
	go func() {
		io.WriteString(conn, want)
		conn.(interface{ CloseWrite() error }).CloseWrite()
	}()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(conn)
	conn.Close()
	if err != nil || string(got) != want+"bye" {
		t.Errorf("echo: %d bytes (want %d), err %v", len(got), len(want)+3, err)
	}

	st := in.status()
	if st.State != StateRunning || st.Packets.Injected == 0 || st.Packets.Written == 0 || st.Process.Goroutines == 0 || st.Process.OpenFDs <= 0 {
		t.Errorf("status: %+v", st)
	}
	if len(st.Engine.Apps) != 1 || st.Engine.Apps[0].IPv4 != appIP {
		t.Errorf("status apps %+v, want echo at %s", st.Engine.Apps, appIP)
	}

	d := in.diagnose(context.Background(), time.Now())
	if len(d.Checks) != 4 { // VNet, the login, the cluster, upstream DNS
		t.Fatalf("diagnosis has %d checks, want 4: %+v", len(d.Checks), d.Checks)
	}
	for _, c := range d.Checks {
		if !c.OK {
			t.Errorf("check %q failed: %s", c.Name, c.Detail)
		}
	}
	if d := in.diagnose(context.Background(), time.Now().Add(48*time.Hour)); d.Checks[1].OK || !strings.Contains(d.Checks[1].Detail, "vnet login") {
		t.Errorf("an expired login passes: %+v", d.Checks[1])
	}

	f.mu.Lock()
	logged := strings.Join(f.logs, "\n")
	f.mu.Unlock()
	if !strings.Contains(logged, "VNet is up") {
		t.Errorf("log callback did not get the engine's lines:\n%s", logged)
	}

	in.stop()
	in.stop() // idempotent
	if err := in.queue.inject([][]byte{make([]byte, 20)}); err == nil {
		t.Error("inject after stop succeeded")
	}
	select {
	case r := <-f.stopped:
		t.Errorf("stopped callback after stop: %s", r)
	default:
	}
}

// TestInstanceStartStopCycles starts and stops VNet again and again: the
// goroutine and file descriptor counts come back to where they were.
func TestInstanceStartStopCycles(t *testing.T) {
	w := newWorld(t)
	cfg := w.config("")
	cycle := func() {
		f := newFakeOS(t)
		opts, err := parseStartConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		in, err := startInstance(opts, f)
		if err != nil {
			t.Fatal(err)
		}
		in.stop()
	}
	cycle() // warm up: packages' one-time goroutines and caches
	before := processStats()
	const n = 10
	for range n {
		cycle()
	}
	var after ProcessStats
	for range 200 { // goroutines of closed connections may take a moment to end
		if after = processStats(); after.Goroutines <= before.Goroutines && after.OpenFDs <= before.OpenFDs {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("after %d cycles: %+v, before %+v", n, after, before)
}

func TestInstanceStartFails(t *testing.T) {
	testkit.CheckGoroutines(t)
	w := newWorld(t)
	empty := t.TempDir()
	for _, tc := range []struct {
		name   string
		config []byte
		refuse error
		want   string
	}{
		{name: "not logged in", config: []byte(`{"profile_dir": "` + empty + `", "upstream_dns": ["127.0.0.1"]}`), want: "not logged in"},
		{name: "settings refused", config: w.config(""), refuse: errors.New("NE said no"), want: "apply network settings: NE said no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOS(t)
			f.refuse = tc.refuse
			opts, err := parseStartConfig(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			in, err := startInstance(opts, f)
			if err == nil {
				in.stop()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line with %q", err, tc.want)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func routed(ts TunnelSettings, a netip.Addr) bool {
	for _, r := range ts.IPv4.IncludedRoutes {
		if netip.MustParsePrefix(r.Prefix).Contains(a) {
			return true
		}
	}
	return false
}
