package vnet_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/dns/dnstest"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/stack"
	"github.com/vnetproject/vnet/core/stack/stacktest"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/vnet"
	"github.com/vnetproject/vnet/core/vnet/vnettest"
)

var (
	hostAddr  = netip.MustParseAddr("100.64.0.1")
	dnsAddr   = netip.AddrPortFrom(netip.MustParseAddr("100.64.0.2"), 53)
	ula       = netip.MustParsePrefix("fd7a:115c:a1e0:ab12::/64")
	hostAddr6 = netip.MustParseAddr("fd7a:115c:a1e0:ab12::1")
	dnsAddr6  = netip.AddrPortFrom(netip.MustParseAddr("fd7a:115c:a1e0:ab12::2"), 53)
)

// world is the whole pipeline in one process: a real cluster on loopback
// (TLS, CA, embedded database), the engine on one end of an in-memory
// packet pipe, and a "host" netstack on the other end playing the OS.
type world struct {
	host     *stack.Stack
	settings netcfg.Settings // the first settings applied
	upstream *dnstest.Upstream
	cluster  *clustertest.Cluster
	admin    *profile.Profile
	engine   *vnet.Engine
	clusters *vnet.Clusters
	catalog  *catalog.Catalog
	// firehoseWritten counts what the firehose app has written.
	firehoseWritten *atomic.Int64

	mu          sync.Mutex
	applied     []netcfg.Settings // guarded by mu; every ApplySettings call that succeeded
	failApplies int               // guarded by mu; ApplySettings calls still to refuse
}

func newWorld(t testing.TB) *world {
	t.Helper()
	testkit.CheckGoroutines(t)
	firehose, firehoseWritten := clustertest.FirehoseServer(t)
	c := clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"},
		clustertest.App{Name: "down", URI: "tcp://" + testkit.ClosedPort(t), PublicAddr: "down.company.test"},
		clustertest.App{Name: "hidden", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "hidden.elsewhere.test"},
		multiPortApp(t),
		clustertest.App{Name: "firehose", URI: "tcp://" + firehose, PublicAddr: "firehose.company.test"},
	)
	clustertest.CreateResource(t, c.Admin(t), vnetConfig("", "company.test"))
	w := startVNet(t, c.AddUser(t, "alice", "dev"))
	w.cluster, w.admin, w.firehoseWritten = c, c.Admin(t), firehoseWritten
	return w
}

// startVNet runs the engine for a user logged in with profiles (in that
// order), and a host stack joined to it.
func startVNet(t testing.TB, profiles ...*profile.Profile) *world {
	t.Helper()
	return startVNetWith(t, 0, nil, profiles...)
}

// startVNetFailing is startVNet with an OS that refuses the first fail
// settings it is asked for.
func startVNetFailing(t testing.TB, fail int, profiles ...*profile.Profile) *world {
	t.Helper()
	return startVNetWith(t, fail, nil, profiles...)
}

// startVNetWith is startVNetFailing with the engine's protected prefixes.
func startVNetWith(t testing.TB, fail int, protected func() []netip.Prefix, profiles ...*profile.Profile) *world {
	t.Helper()
	clusters, err := vnet.Connect(profiles)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clusters.Close() })
	cat, err := catalog.New(clusters.Logins(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{upstream: dnstest.NewUpstream(), failApplies: fail, clusters: clusters, catalog: cat}
	w.upstream.AddRR("only-upstream.test. 60 IN A 192.0.2.50")
	w.upstream.AddRR("company.test. 60 IN SOA ns.company.test. h.company.test. 1 60 60 60 60")

	vnetEnd, hostEnd := stacktest.Pipe(512)
	// The host side first, so that its cleanup runs after the engine's:
	// closing the pipe under a running engine is an error it reports.
	w.host, err = stack.New(stack.Config{IO: hostEnd, Addresses: []netip.Addr{hostAddr, hostAddr6}})
	if err != nil {
		t.Fatal(err)
	}
	hostCtx, hostCancel := context.WithCancel(context.Background())
	go w.host.Run(hostCtx)
	t.Cleanup(func() {
		hostCancel()
		w.host.Close()
	})

	eng, err := vnet.New(vnet.Config{
		IO: vnetEnd, Catalog: cat, Dialer: clusters, Upstream: w.upstream, ULA: ula, Protected: protected,
		ApplySettings: func(_ context.Context, s netcfg.Settings) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.failApplies > 0 {
				w.failApplies--
				return errors.New("the OS said no")
			}
			w.applied = append(w.applied, s)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.engine = eng
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
	})

	w.settings = w.waitSettings(t, "the first settings", func(netcfg.Settings) bool { return true })
	return w
}

// waitSettings waits until the engine has applied settings that satisfy
// cond, and returns them.
func (w *world) waitSettings(t testing.TB, what string, cond func(netcfg.Settings) bool) netcfg.Settings {
	t.Helper()
	var last netcfg.Settings
	testkit.Eventually(t, what, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.applied) == 0 {
			return false
		}
		last = w.applied[len(w.applied)-1]
		return cond(last)
	})
	return last
}

func vnetConfig(rng string, zones ...string) string {
	y := "kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n"
	if rng != "" {
		y += "  ipv4_cidr_range: " + rng + "\n"
	}
	if len(zones) > 0 {
		y += "  custom_dns_zones:\n"
		for _, z := range zones {
			y += "    - suffix: " + z + "\n"
		}
	}
	return y
}

// query asks VNet's DNS server over UDP, through the host stack.
func (w *world) query(t testing.TB, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	return w.queryAt(t, hostAddr, dnsAddr, name, qtype)
}

func (w *world) queryAt(t testing.TB, src netip.Addr, server netip.AddrPort, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	c, err := w.host.DialUDP(src, server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return vnettest.Query(t, c, name, qtype)
}

func (w *world) resolve(t testing.TB, name string) netip.Addr {
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
	want := netcfg.Settings{
		TunAddr4: hostAddr, TunAddr6: hostAddr6,
		Routes:   []netip.Prefix{rng, ula},
		DNSAddrs: []netip.Addr{dnsAddr.Addr(), dnsAddr6.Addr()},
		DNSZones: []string{"proxy.root.test", "company.test"},
		MTU:      1500,
	}
	if !w.settings.Equal(want) {
		t.Fatalf("settings = %+v\nwant %+v", w.settings, want)
	}

	ip := w.resolve(t, "Echo.Company.Test.")
	if !rng.Contains(ip) || ip == hostAddr || ip == dnsAddr.Addr() {
		t.Fatalf("echo.company.test = %s, want a free address in %s", ip, rng)
	}
	// Any port reaches the app's port.
	conn := w.dial(t, hostAddr, netip.AddrPortFrom(ip, 5432))
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

// dial connects from src to addr through the host stack, as a client
// process would through the kernel; the connection is closed with the test.
func (w *world) dial(t testing.TB, src netip.Addr, addr netip.AddrPort) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := w.host.DialTCP(ctx, src, addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// echo dials addr through the host stack, checks an echo and the app's
// answer to our half-close.
func (w *world) echo(t testing.TB, src netip.Addr, addr netip.AddrPort) {
	t.Helper()
	conn := w.dial(t, src, addr)
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	conn.(interface{ CloseWrite() error }).CloseWrite()
	got, err := io.ReadAll(conn)
	if err != nil || string(got) != "pingbye" {
		t.Fatalf("%s answered %q, %v; want pingbye", addr, got, err)
	}
}

func TestSystemIPv6(t *testing.T) {
	w := newWorld(t)
	v4 := w.resolve(t, "echo.company.test")
	resp := w.queryAt(t, hostAddr6, dnsAddr6, "echo.company.test", mdns.TypeAAAA)
	if resp.Rcode != mdns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Fatalf("AAAA over IPv6: rcode %s, %d answers", mdns.RcodeToString[resp.Rcode], len(resp.Answer))
	}
	v6, _ := netip.AddrFromSlice(resp.Answer[0].(*mdns.AAAA).AAAA)
	if !ula.Contains(v6) || [4]byte(v6.AsSlice()[12:]) != v4.As4() {
		t.Fatalf("AAAA = %s, want %s's bits in %s", v6, v4, ula)
	}
	w.echo(t, hostAddr6, netip.AddrPortFrom(v6, 443))
}

// TestSystemLiveChanges: apps, zones and ranges change in the cluster while
// VNet runs, and reach it through the watch stream without a restart.
func TestSystemLiveChanges(t *testing.T) {
	w := newWorld(t)
	rng := netip.MustParsePrefix("100.64.0.0/10")

	// A new app in a new zone.
	clustertest.CreateResource(t, w.admin, vnetConfig("", "company.test", "new.test"))
	clustertest.CreateResource(t, w.admin, "kind: app\nversion: v1\nmetadata:\n  name: late\nspec:\n  uri: tcp://"+clustertest.EchoServer(t)+"\n  public_addr: late.new.test\n")
	w.waitSettings(t, "the new zone in the OS settings", func(s netcfg.Settings) bool {
		return slices.Contains(s.DNSZones, "new.test")
	})
	var late netip.Addr
	testkit.Eventually(t, "late.new.test to resolve", func() bool {
		resp := w.query(t, "late.new.test", mdns.TypeA)
		if len(resp.Answer) == 1 {
			late, _ = netip.AddrFromSlice(resp.Answer[0].(*mdns.A).A.To4())
			return true
		}
		return false
	})
	w.echo(t, hostAddr, netip.AddrPortFrom(late, 80))

	// The range moves: apps follow, the old DNS address stays routed.
	newRange := netip.MustParsePrefix("100.100.0.0/16")
	clustertest.CreateResource(t, w.admin, vnetConfig(newRange.String(), "company.test", "new.test"))
	s := w.waitSettings(t, "the new range", func(s netcfg.Settings) bool { return slices.Contains(s.Routes, newRange) })
	if slices.Contains(s.Routes, rng) || !slices.Contains(s.Routes, netip.PrefixFrom(dnsAddr.Addr(), 32)) {
		t.Fatalf("routes after the move = %v: want the new range and the DNS /32, not the old range", s.Routes)
	}
	moved := w.resolve(t, "echo.company.test")
	if !newRange.Contains(moved) {
		t.Fatalf("echo.company.test = %s after the move, want an address in %s", moved, newRange)
	}
	w.echo(t, hostAddr, netip.AddrPortFrom(moved, 5432))

	// A zone that goes away takes its app's name with it.
	clustertest.CreateResource(t, w.admin, vnetConfig(newRange.String(), "company.test"))
	testkit.Eventually(t, "late.new.test to leave VNet's zones", func() bool {
		return w.query(t, "late.new.test", mdns.TypeA).Rcode == mdns.RcodeNameError
	})
}

// TestSystemTunnelBreakResetsClient: when the path to the app breaks
// mid-connection, the client sees a reset, not a clean end of data.
func TestSystemTunnelBreakResetsClient(t *testing.T) {
	w := newWorld(t)
	ip := w.resolve(t, "echo.company.test")
	conn := w.dial(t, hostAddr, netip.AddrPortFrom(ip, 5432))
	if _, err := conn.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	w.cluster.Daemon.Close() // the proxy goes away with the stream
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := conn.Read(make([]byte, 1))
	// gonet reports gVisor's reset as text, not as syscall.ECONNRESET.
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("read after the tunnel broke: %v, want connection reset", err)
	}
}

// multiPortApp is an app on 127.0.0.1 with tcp_ports covering the port of
// a fresh echo server and nothing else.
func multiPortApp(t testing.TB) clustertest.App {
	_, port, _ := net.SplitHostPort(clustertest.EchoServer(t))
	p, _ := strconv.Atoi(port)
	return clustertest.App{Name: "multi", URI: "tcp://127.0.0.1", PublicAddr: "multi.company.test",
		TCPPorts: []resource.PortRange{{Port: p}}}
}

// TestSystemMultiPort: a multi-port app is reached on a listed port (the
// client's port is dialled on the target) and refused on others.
func TestSystemMultiPort(t *testing.T) {
	w := newWorld(t)
	ip := w.resolve(t, "multi.company.test")
	app := w.cluster.Config.Apps.Apps[3]
	if app.Name != "multi" {
		t.Fatal("test setup: multi-port app not found")
	}
	w.echo(t, hostAddr, netip.AddrPortFrom(ip, uint16(app.TCPPorts[0].Port)))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := w.host.DialTCP(ctx, hostAddr, netip.AddrPortFrom(ip, uint16(app.TCPPorts[0].Port)+1))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to an unlisted port: %v, want connection refused", err)
	}
}

// TestSystemSlowReaderBackPressure: a client that reads slowly from an app
// that writes as fast as it can must slow the app down, not fill memory on
// the way (netstack, tunnel, proxy).
func TestSystemSlowReaderBackPressure(t *testing.T) {
	w := newWorld(t)
	ip := w.resolve(t, "firehose.company.test")
	conn := w.dial(t, hostAddr, netip.AddrPortFrom(ip, 80))

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// Read 1 KiB per 10 ms for 2 s: about 200 KiB taken in all. A path
	// without back-pressure would let the app push gigabytes meanwhile.
	buf := make([]byte, 1024)
	read := 0
	for range 200 {
		n, err := io.ReadFull(conn, buf)
		read += n
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)

	// Every buffer on the way is bounded: kernel socket buffers, the
	// proxy's and VNet's HTTP/2 windows (4 MiB a stream), netstack's TCP
	// windows (8 MiB). 64 MiB is far above their sum.
	const bound = 64 << 20
	written := w.firehoseWritten.Load()
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("client read %d KiB; app wrote %d MiB; heap grew %d MiB", read>>10, written>>20, growth>>20)
	if written > bound {
		t.Fatalf("the app wrote %d MiB while the client read %d KiB: no back-pressure", written>>20, read>>10)
	}
	if growth > bound {
		t.Fatalf("heap grew %d MiB for a slow reader", growth>>20)
	}
}

// TestSystemNames covers the name rules through the whole pipeline, in
// the style of CoreDNS's test.Case: every case is one query over UDP to
// VNet's DNS address through the host stack.
// TestSystemTwoRootClusters: two independent clusters logged in at once,
// each with its own range and zones, both reachable through one VNet; a
// zone both capture goes to the first profile.
func TestSystemTwoRootClusters(t *testing.T) {
	testkit.CheckGoroutines(t)
	a := clustertest.Start(t, "a.test", "proxy.a.test",
		clustertest.App{Name: "app-a", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "app.a-zone.test"},
		clustertest.App{Name: "shared-a", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "x.shared.test"},
	)
	b := clustertest.Start(t, "b.test", "proxy.b.test",
		clustertest.App{Name: "app-b", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "app.b-zone.test"},
		clustertest.App{Name: "shared-b", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "x.shared.test"},
	)
	clustertest.CreateResource(t, a.Admin(t), vnetConfig("", "a-zone.test", "shared.test"))
	rangeB := netip.MustParsePrefix("10.120.0.0/16")
	clustertest.CreateResource(t, b.Admin(t), vnetConfig(rangeB.String(), "b-zone.test", "shared.test"))
	w := startVNet(t, a.AddUser(t, "alice", "dev"), b.AddUser(t, "alice", "dev"))

	if !slices.Contains(w.settings.Routes, rangeB) || w.settings.TunAddr4 != hostAddr {
		t.Fatalf("settings %+v: want both ranges routed, the device in the first cluster's range", w.settings)
	}
	ipA, ipB := w.resolve(t, "app.a-zone.test"), w.resolve(t, "app.b-zone.test")
	if !netip.MustParsePrefix("100.64.0.0/10").Contains(ipA) || !rangeB.Contains(ipB) {
		t.Fatalf("app.a-zone.test = %s, app.b-zone.test = %s: want each in its cluster's range", ipA, ipB)
	}
	w.echo(t, hostAddr, netip.AddrPortFrom(ipA, 80))
	w.echo(t, hostAddr, netip.AddrPortFrom(ipB, 80))
	// The shared zone belongs to the first profile's cluster.
	if shared := w.resolve(t, "x.shared.test"); !netip.MustParsePrefix("100.64.0.0/10").Contains(shared) || rangeB.Contains(shared) {
		t.Fatalf("x.shared.test = %s, want cluster a's app", shared)
	}
}

// TestSystemApplySettingsRetried: an OS that refuses VNet's settings at
// first gets them again on a timer, without any catalog change.
func TestSystemApplySettingsRetried(t *testing.T) {
	testkit.CheckGoroutines(t)
	c := clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"})
	clustertest.CreateResource(t, c.Admin(t), vnetConfig("", "company.test"))
	w := startVNetFailing(t, 1, c.AddUser(t, "alice", "dev"))
	w.mu.Lock()
	left := w.failApplies
	w.mu.Unlock()
	if left != 0 || w.settings.TunAddr4 != hostAddr {
		t.Fatalf("settings %+v with %d refusals left: want them applied after the refusal", w.settings, left)
	}
}

func TestSystemNames(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name      string
		qname     string
		qtype     uint16
		rcode     int
		answer    uint16 // type of the one answer record; 0: no answer
		soa       string // zone of a SOA in authority; "": none
		forwarded bool
	}{
		{"app A", "echo.company.test.", mdns.TypeA, mdns.RcodeSuccess, mdns.TypeA, "", false},
		{"app AAAA from the ULA", "echo.company.test.", mdns.TypeAAAA, mdns.RcodeSuccess, mdns.TypeAAAA, "", false},
		{"names are case-insensitive", "ECHO.Company.TEST.", mdns.TypeA, mdns.RcodeSuccess, mdns.TypeA, "", false},
		{"MX of an app: NODATA with the zone's SOA", "echo.company.test.", mdns.TypeMX, mdns.RcodeSuccess, 0, "company.test.", false},
		{"HTTPS of an app: NODATA, never NXDOMAIN", "echo.company.test.", mdns.TypeHTTPS, mdns.RcodeSuccess, 0, "company.test.", false},
		{"TXT of an app: NODATA", "echo.company.test.", mdns.TypeTXT, mdns.RcodeSuccess, 0, "company.test.", false},
		{"unknown name in a zone goes upstream", "nope.company.test.", mdns.TypeA, mdns.RcodeNameError, 0, "company.test.", true},
		{"a longer label is not in the zone", "echo.evilcompany.test.", mdns.TypeA, mdns.RcodeNameError, 0, "", true},
		{"app outside captured domains goes upstream", "hidden.elsewhere.test.", mdns.TypeA, mdns.RcodeNameError, 0, "", true},
		{"upstream name", "only-upstream.test.", mdns.TypeA, mdns.RcodeSuccess, mdns.TypeA, "", true},
		{"proxy address goes upstream", "proxy.root.test.", mdns.TypeA, mdns.RcodeNameError, 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.upstream.Calls())
			resp := w.query(t, tc.qname, tc.qtype)
			if resp.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[resp.Rcode], mdns.RcodeToString[tc.rcode])
			}
			switch {
			case tc.answer == 0 && len(resp.Answer) != 0,
				tc.answer != 0 && (len(resp.Answer) != 1 || resp.Answer[0].Header().Rrtype != tc.answer):
				t.Fatalf("answer %v, want one %s record or none", resp.Answer, mdns.TypeToString[tc.answer])
			}
			if tc.answer != 0 && !tc.forwarded && (!resp.Authoritative || resp.Answer[0].Header().Ttl != vnet.DefaultDNSTTL) {
				t.Fatalf("VNet's own answer: AA=%v TTL=%d, want authoritative with TTL %d", resp.Authoritative, resp.Answer[0].Header().Ttl, vnet.DefaultDNSTTL)
			}
			gotSOA := ""
			if len(resp.Ns) == 1 {
				if soa, ok := resp.Ns[0].(*mdns.SOA); ok {
					gotSOA = soa.Hdr.Name
				}
			}
			if gotSOA != tc.soa {
				t.Fatalf("authority %v, want a SOA of %q", resp.Ns, tc.soa)
			}
			if forwarded := len(w.upstream.Calls()) > before; forwarded != tc.forwarded {
				t.Fatalf("forwarded = %v, want %v", forwarded, tc.forwarded)
			}
		})
	}
}

// TestSystemNegativeCache: names in VNet's zones that are not apps are
// asked upstream once per negative TTL, and a catalog change forgets them
// (the name may now be an app).
func TestSystemNegativeCache(t *testing.T) {
	w := newWorld(t)
	calls := func() int { return len(w.upstream.Calls()) }
	before := calls()
	for range 3 {
		if resp := w.query(t, "soon.company.test", mdns.TypeA); resp.Rcode != mdns.RcodeNameError {
			t.Fatalf("rcode %s, want NXDOMAIN from upstream", mdns.RcodeToString[resp.Rcode])
		}
	}
	if got := calls() - before; got != 1 {
		t.Fatalf("three queries reached the upstream %d times, want once", got)
	}
	// The name becomes an app: the cache must not hide it.
	clustertest.CreateResource(t, w.admin, "kind: app\nversion: v1\nmetadata:\n  name: soon\nspec:\n  uri: tcp://"+clustertest.EchoServer(t)+"\n  public_addr: soon.company.test\n")
	testkit.Eventually(t, "soon.company.test to resolve", func() bool {
		return len(w.query(t, "soon.company.test", mdns.TypeA).Answer) == 1
	})
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
