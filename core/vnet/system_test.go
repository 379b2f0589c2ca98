package vnet_test

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/dns/dnstest"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/stack"
	"github.com/vnetproject/vnet/core/stack/stacktest"
	"github.com/vnetproject/vnet/core/vnet"
)

var (
	hostAddr = netip.MustParseAddr("100.64.0.1")
	dnsAddr  = netip.AddrPortFrom(netip.MustParseAddr("100.64.0.2"), 53)
)

// world is the whole pipeline in one process: a real cluster on loopback
// (TLS, CA, embedded database), the engine on one end of an in-memory
// packet pipe, and a "host" netstack on the other end playing the OS.
type world struct {
	host     *stack.Stack
	settings netcfg.Settings
	upstream *dnstest.Upstream
}

func newWorld(t *testing.T) *world {
	t.Helper()
	checkGoroutines(t)
	c := clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"},
		clustertest.App{Name: "down", URI: "tcp://" + clustertest.ClosedPort(t), PublicAddr: "down.company.test"},
		clustertest.App{Name: "hidden", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "hidden.elsewhere.test"},
	)
	createZone(t, c.Admin(t), "company.test")
	alice := c.AddUser(t, "alice", "dev")

	clusters, err := vnet.Connect([]*profile.Profile{alice})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clusters.Close() })
	cat, err := catalog.New(clusters.Sources(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{upstream: dnstest.NewUpstream()}
	w.upstream.AddRR("only-upstream.test. 60 IN A 192.0.2.50")

	vnetEnd, hostEnd := stacktest.Pipe(512)
	applied := make(chan netcfg.Settings, 1)
	eng, err := vnet.New(vnet.Config{
		IO: vnetEnd, Catalog: cat, Dialer: clusters, Upstream: w.upstream,
		ApplySettings: func(_ context.Context, s netcfg.Settings) error { applied <- s; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
	})

	w.host, err = stack.New(stack.Config{IO: hostEnd, Addresses: []netip.Addr{hostAddr}})
	if err != nil {
		t.Fatal(err)
	}
	go w.host.Run(ctx)
	t.Cleanup(func() { w.host.Close() })

	select {
	case w.settings = <-applied:
	case err := <-done:
		t.Fatalf("engine stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("engine never applied its settings")
	}
	return w
}

func createZone(t *testing.T, admin *profile.Profile, zone string) {
	t.Helper()
	conn, err := admin.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	y := "kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n  custom_dns_zones:\n    - suffix: " + zone + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := api.NewClusterClient(conn).CreateResource(ctx, &api.CreateResourceRequest{Yaml: []byte(y)}); err != nil {
		t.Fatal(err)
	}
}

// query asks VNet's DNS server over UDP, through the host stack.
func (w *world) query(t *testing.T, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	c, err := w.host.DialUDP(hostAddr, dnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	dc := &mdns.Conn{Conn: c}
	if err := dc.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	resp, err := dc.ReadMsg()
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	return resp
}

func (w *world) resolve(t *testing.T, name string) netip.Addr {
	t.Helper()
	resp := w.query(t, name, mdns.TypeA)
	if resp.Rcode != mdns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Fatalf("A %s: rcode %s, %d answers", name, mdns.RcodeToString[resp.Rcode], len(resp.Answer))
	}
	a, _ := netip.AddrFromSlice(resp.Answer[0].(*mdns.A).A.To4())
	return a
}

func TestSystemReachAppByName(t *testing.T) {
	w := newWorld(t)
	rng := netip.MustParsePrefix("100.64.0.0/10")
	if w.settings.TunAddr4 != hostAddr || len(w.settings.DNSAddrs) != 1 || w.settings.DNSAddrs[0] != dnsAddr.Addr() {
		t.Fatalf("settings = %+v", w.settings)
	}
	if len(w.settings.Routes) != 1 || w.settings.Routes[0] != rng {
		t.Fatalf("routes = %v, want %v", w.settings.Routes, rng)
	}

	ip := w.resolve(t, "Echo.Company.Test.")
	if !rng.Contains(ip) || ip == hostAddr || ip == dnsAddr.Addr() {
		t.Fatalf("echo.company.test = %s, want a free address in %s", ip, rng)
	}
	// Any port reaches the app's port.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := w.host.DialTCP(ctx, hostAddr, netip.AddrPortFrom(ip, 5432))
	if err != nil {
		t.Fatalf("dial %s: %v", ip, err)
	}
	defer conn.Close()
	msg := make([]byte, 256<<10)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	go conn.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo of %d bytes: err %v, equal %v", len(msg), err, string(got) == string(msg))
	}
	// Half-close crosses netstack, tunnel and proxy: the app answers our
	// EOF with "bye".
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(conn)
	if err != nil || string(rest) != "bye" {
		t.Fatalf("after CloseWrite: %q, %v", rest, err)
	}
}

func TestSystemNames(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name      string
		qname     string
		qtype     uint16
		rcode     int
		answers   int
		forwarded bool
	}{
		{"app A", "echo.company.test.", mdns.TypeA, mdns.RcodeSuccess, 1, false},
		{"app MX is empty NOERROR", "echo.company.test.", mdns.TypeMX, mdns.RcodeSuccess, 0, false},
		{"unknown name in zone goes upstream", "nope.company.test.", mdns.TypeA, mdns.RcodeNameError, 0, true},
		{"app outside captured domains goes upstream", "hidden.elsewhere.test.", mdns.TypeA, mdns.RcodeNameError, 0, true},
		{"upstream name", "only-upstream.test.", mdns.TypeA, mdns.RcodeSuccess, 1, true},
		{"proxy address goes upstream", "proxy.root.test.", mdns.TypeA, mdns.RcodeNameError, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.upstream.Calls())
			resp := w.query(t, tc.qname, tc.qtype)
			if resp.Rcode != tc.rcode || len(resp.Answer) != tc.answers {
				t.Fatalf("%s: rcode %s with %d answers, want %s with %d", tc.qname, mdns.RcodeToString[resp.Rcode], len(resp.Answer), mdns.RcodeToString[tc.rcode], tc.answers)
			}
			if forwarded := len(w.upstream.Calls()) > before; forwarded != tc.forwarded {
				t.Fatalf("%s: forwarded = %v, want %v", tc.qname, forwarded, tc.forwarded)
			}
		})
	}
}

func TestSystemAppDownIsRefused(t *testing.T) {
	w := newWorld(t)
	ip := w.resolve(t, "down.company.test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := w.host.DialTCP(ctx, hostAddr, netip.AddrPortFrom(ip, 80))
	if err == nil {
		conn.Close()
		t.Fatal("dial to an app that is down succeeded")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial: %v, want connection refused", err)
	}
	// An address in the range that no app holds is refused too.
	_, err = w.host.DialTCP(ctx, hostAddr, netip.MustParseAddrPort("100.64.9.9:80"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a free address: %v, want connection refused", err)
	}
}

// checkGoroutines fails the test if goroutines started during it are
// still running a while after it (and its cleanups) ended.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		var now int
		for range 100 {
			if now = runtime.NumGoroutine(); now <= before {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after\n%s", before, now, buf[:runtime.Stack(buf, true)])
	})
}
