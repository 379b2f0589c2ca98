package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/dns/dnstest"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/stack"
)

// world is a real cluster on loopback with a logged-in user whose profile
// is saved in a directory, and a test upstream DNS server on loopback:
// what an instance needs to start.
type world struct {
	profileDir string
	upstream   string           // host:port of the test upstream DNS server
	admin      *profile.Profile // the cluster's admin, to change resources
}

func newWorld(t *testing.T) *world {
	t.Helper()
	c := clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"},
	)
	admin := c.Admin(t)
	clustertest.CreateResource(t, admin, "kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n  custom_dns_zones:\n    - suffix: company.test\n")
	clustertest.CreateResource(t, admin, "kind: role\nversion: v1\nmetadata:\n  name: dev\nspec:\n  allow:\n    app_labels: {'*': '*'}\n")
	w := &world{profileDir: t.TempDir(), admin: admin}
	if err := profile.Save(w.profileDir, c.AddUser(t, "alice", "dev")); err != nil {
		t.Fatal(err)
	}
	w.upstream = serveUpstream(t, "only-upstream.test. 60 IN A 192.0.2.50", "proxy.root.test. 60 IN A 192.0.2.1")
	return w
}

func (w *world) config(extra string) []byte {
	return fmt.Appendf(nil, `{"profile_dir": %q, "upstream_dns": [%q], "start_timeout_ms": 60000 %s}`, w.profileDir, w.upstream, extra)
}

// serveUpstream serves records over UDP on loopback until the test ends.
func serveUpstream(t *testing.T, records ...string) string {
	t.Helper()
	up := dnstest.NewUpstream()
	for _, rr := range records {
		up.AddRR(rr)
	}
	srv, err := dns.NewServer(dns.Config{Resolver: dnstest.NewResolver(), Upstream: up})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeUDP(ctx, pc) }()
	t.Cleanup(func() { cancel(); pc.Close(); <-done })
	return pc.LocalAddr().String()
}

// fakeOS is the host of an instance in tests: a second netstack plays the
// OS. Packets VNet writes go to that stack; packets it sends are injected
// into the instance.
type fakeOS struct {
	t      *testing.T
	refuse error // ApplySettings fails with this when set
	// hold, when set, makes every ApplySettings after the first holdAfter
	// wait until it is closed; each such call first sends on held.
	hold      chan struct{}
	holdAfter int
	held      chan struct{}
	applied   int           // ApplySettings calls so far; only ApplySettings touches it
	closed    chan struct{} // closed by Close
	toHost    chan []byte   // packets written by VNet
	hostDone  chan struct{} // closed when the host netstack closes
	hostOnce  sync.Once
	inst      atomic.Pointer[instance]
	settings  chan TunnelSettings // every settings JSON applied
	stopped   chan string

	mu   sync.Mutex
	logs []string // guarded by mu
}

func newFakeOS(t *testing.T) *fakeOS {
	return &fakeOS{t: t, toHost: make(chan []byte, 1024), hostDone: make(chan struct{}), settings: make(chan TunnelSettings, 16), stopped: make(chan string, 1), held: make(chan struct{}, 16), closed: make(chan struct{})}
}

func (f *fakeOS) WritePackets(pkts [][]byte) error {
	for _, p := range pkts {
		select {
		case f.toHost <- append([]byte(nil), p...):
		default:
			return errors.New("fake OS: queue full")
		}
	}
	return nil
}

func (f *fakeOS) ApplySettings(data []byte) error {
	f.applied++
	if f.hold != nil && f.applied > f.holdAfter {
		f.held <- struct{}{}
		<-f.hold
	}
	if f.refuse != nil {
		return f.refuse
	}
	var ts TunnelSettings
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ts); err != nil {
		return fmt.Errorf("fake OS: settings JSON: %w", err)
	}
	f.settings <- ts
	return nil
}

func (f *fakeOS) Log(level slog.Level, line string) {
	f.mu.Lock()
	f.logs = append(f.logs, level.String()+" "+line)
	f.mu.Unlock()
}

func (f *fakeOS) Stopped(reason string) { f.stopped <- reason }

// Close records that the instance released its host; twice fails.
func (f *fakeOS) Close() { close(f.closed) }

// isClosed reports whether the instance has released f.
func (f *fakeOS) isClosed() bool {
	select {
	case <-f.closed:
		return true
	default:
		return false
	}
}

// host returns the netstack playing the OS, at addr, running until the
// test ends.
func (f *fakeOS) host(t *testing.T, addr netip.Addr) *stack.Stack {
	t.Helper()
	st, err := stack.New(stack.Config{IO: (*hostIO)(f), Addresses: []netip.Addr{addr}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); st.Run(ctx) }()
	t.Cleanup(func() { cancel(); st.Close(); <-done })
	return st
}

// hostIO is the PacketIO of the host netstack.
type hostIO fakeOS

var errHostClosed = errors.New("host closed")

func (h *hostIO) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	select {
	case p := <-h.toHost:
		sizes[0] = copy(bufs[0], p)
		return 1, nil
	case <-h.hostDone:
		return 0, errHostClosed
	}
}

func (h *hostIO) WritePackets(pkts [][]byte) error {
	in := h.inst.Load()
	if in == nil {
		return errors.New("no instance yet")
	}
	return in.queue.inject(pkts)
}

func (h *hostIO) Close() error {
	h.hostOnce.Do(func() { close(h.hostDone) })
	return nil
}

// start starts an instance on f and stops it when the test ends.
func (f *fakeOS) start(t *testing.T, config []byte) *instance {
	t.Helper()
	opts, err := parseStartConfig(config, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	in, err := startInstance(opts, f)
	if err != nil {
		t.Fatal(err)
	}
	f.inst.Store(in)
	t.Cleanup(in.stop)
	return in
}
