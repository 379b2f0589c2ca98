package stack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/vnetproject/vnet/core/relay"
	"github.com/vnetproject/vnet/core/stack"
	"github.com/vnetproject/vnet/core/stack/stacktest"
	"github.com/vnetproject/vnet/core/testkit"
)

// waitLong bounds waits that only a bug would make long; nothing asserts
// how fast anything is.
const waitLong = 30 * time.Second

var (
	// The "VNet" side: the DNS server's addresses.
	vnetDNS4 = netip.MustParseAddr("100.64.0.2")
	vnetDNS6 = netip.MustParseAddr("fd00::2")
	// The "host" side: the TUN device's addresses.
	host4 = netip.MustParseAddr("100.64.0.1")
	host6 = netip.MustParseAddr("fd00::1")
)

// trailer is what the loopback echo server writes after its client's EOF,
// to prove a half-closed connection still carries data the other way.
const trailer = "\nbye\n"

// checkGoroutines is the leak check every test here starts with.
var checkGoroutines = testkit.CheckGoroutines

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// pair is a VNet stack and a host stack joined by a pipe, both running.
type pair struct {
	vnet, host *stack.Stack
	// hostIO is the host's end of the pipe; what the test writes to it
	// reaches the VNet stack.
	hostIO stack.PacketIO
}

// newPair starts both stacks and stops them in t.Cleanup.
func newPair(t testing.TB, handle func(context.Context, *stack.TCPRequest)) *pair {
	t.Helper()
	return newPairConfig(t, stack.Config{HandleTCP: handle})
}

// newPairConfig is newPair with more of the VNet stack's config; IO,
// Addresses and Logger are filled in.
func newPairConfig(t testing.TB, cfg stack.Config) *pair {
	t.Helper()
	return newPairIO(t, cfg, nil)
}

// newPairIO is newPairConfig with the VNet stack's end of the pipe passed
// through wrap, if not nil.
func newPairIO(t testing.TB, cfg stack.Config, wrap func(stack.PacketIO) stack.PacketIO) *pair {
	t.Helper()
	vnetIO, hostIO := stacktest.Pipe(512)
	cfg.IO = vnetIO
	if wrap != nil {
		cfg.IO = wrap(vnetIO)
	}
	cfg.Addresses = []netip.Addr{vnetDNS4, vnetDNS6}
	cfg.Logger = testLogger(t)
	vnet, err := stack.New(cfg)
	if err != nil {
		t.Fatalf("New vnet: %v", err)
	}
	host, err := stack.New(stack.Config{
		IO:        hostIO,
		Addresses: []netip.Addr{host4, host6},
		Logger:    testLogger(t),
	})
	if err != nil {
		t.Fatalf("New host: %v", err)
	}
	p := &pair{vnet: vnet, host: host, hostIO: hostIO}
	runStack(t, "vnet", vnet)
	runStack(t, "host", host)
	return p
}

// runStack runs s until the test ends and checks how Run returned.
func runStack(t testing.TB, name string, s *stack.Stack) {
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("%s Close: %v", name, err)
		}
		select {
		case err := <-errc:
			// The stack closed second sees its pipe closed under it; a
			// short test may close before Run even started.
			if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, stack.ErrClosed) {
				t.Errorf("%s Run: %v", name, err)
			}
		case <-time.After(waitLong):
			t.Errorf("%s Run did not return after Close", name)
		}
	})
}

// startEcho runs a loopback TCP server that echoes until its client's EOF,
// then writes trailer and closes.
func startEcho(t testing.TB) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if _, err := io.Copy(c, c); err != nil {
					return
				}
				c.Write([]byte(trailer))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// relayTo is a HandleTCP that dials upstream first and accepts only when
// that worked, then relays, as VNet's engine does with the tunnel. Every
// request it sees is sent to seen, if not nil.
func relayTo(upstream netip.AddrPort, seen chan<- *stack.TCPRequest) func(context.Context, *stack.TCPRequest) {
	return func(ctx context.Context, req *stack.TCPRequest) {
		if seen != nil {
			seen <- req
		}
		var d net.Dialer
		up, err := d.DialContext(ctx, "tcp", upstream.String())
		if err != nil {
			return // the client gets a RST
		}
		conn, err := req.Accept()
		if err != nil {
			up.Close()
			return
		}
		// relay.Splice reads its error while its ctx.AfterFunc may still
		// be writing it (a data race when ctx is cancelled mid-relay), so
		// the cancellation is applied here by closing both sides instead.
		stop := context.AfterFunc(ctx, func() {
			conn.Close()
			up.Close()
		})
		defer stop()
		relay.Splice(context.WithoutCancel(ctx), conn, up)
	}
}

func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip writes msg, half-closes, and reads until EOF.
func roundTrip(t testing.TB, conn net.Conn, msg string) string {
	t.Helper()
	conn.SetDeadline(time.Now().Add(waitLong))
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(got)
}

func TestTCPForwarded(t *testing.T) {
	tests := []struct {
		name string
		src  netip.Addr // zero: the stack picks
		dst  netip.AddrPort
		want netip.Addr // the source HandleTCP sees
	}{
		{name: "IPv4 virtual IP", dst: netip.MustParseAddrPort("100.64.1.7:5432"), want: host4},
		{name: "IPv6 ULA", dst: netip.MustParseAddrPort("[fd00::64:107]:443"), want: host6},
		{name: "explicit source", src: host4, dst: netip.MustParseAddrPort("100.127.255.254:22"), want: host4},
		{name: "spoofed source", src: netip.MustParseAddr("100.64.0.77"), dst: netip.MustParseAddrPort("100.64.1.7:5432"), want: netip.MustParseAddr("100.64.0.77")},
		// An address the stack owns but does not listen on at that port
		// goes to HandleTCP as well.
		{name: "owned address", dst: netip.MustParseAddrPort("100.64.0.2:80"), want: host4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			seen := make(chan *stack.TCPRequest, 1)
			p := newPair(t, relayTo(startEcho(t), seen))
			conn, err := p.host.DialTCP(ctxTimeout(t), tt.src, tt.dst)
			if err != nil {
				t.Fatalf("DialTCP: %v", err)
			}
			defer conn.Close()

			req := <-seen
			if req.Dst != tt.dst {
				t.Errorf("request Dst = %v, want %v", req.Dst, tt.dst)
			}
			if req.Src.Addr() != tt.want || req.Src != conn.LocalAddr().(*net.TCPAddr).AddrPort() {
				t.Errorf("request Src = %v, want %v (the dialer's %v)", req.Src, tt.want, conn.LocalAddr())
			}
			if got := conn.RemoteAddr().(*net.TCPAddr).AddrPort(); got != tt.dst {
				t.Errorf("conn RemoteAddr = %v, want %v", got, tt.dst)
			}
			// The server sees the client's EOF, still writes trailer, and
			// the client reads it before its own EOF.
			const msg = "hello through the netstack"
			if got := roundTrip(t, conn, msg); got != msg+trailer {
				t.Errorf("got %q, want %q", got, msg+trailer)
			}
		})
	}
}

func TestTCPRefused(t *testing.T) {
	// A port on loopback with nothing behind it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()

	tests := []struct {
		name   string
		handle func(context.Context, *stack.TCPRequest)
	}{
		{name: "handler returns without Accept", handle: func(context.Context, *stack.TCPRequest) {}},
		{name: "upstream refuses", handle: relayTo(deadPort, nil)},
		{name: "no handler", handle: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			p := newPair(t, tt.handle)
			conn, err := p.host.DialTCP(ctxTimeout(t), netip.Addr{}, netip.MustParseAddrPort("100.64.1.7:5432"))
			if err == nil {
				conn.Close()
				t.Fatal("DialTCP succeeded, want connection refused")
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("DialTCP: %v, want ECONNREFUSED", err)
			}
		})
	}
}

// SYNs beyond MaxInFlightTCP are dropped, not refused, and get through on
// retransmission once a slot is free.
func TestMaxInFlightTCP(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	p := newPairConfig(t, stack.Config{
		MaxInFlightTCP: 1,
		HandleTCP: func(ctx context.Context, req *stack.TCPRequest) {
			select {
			case <-release:
			case <-ctx.Done():
				return
			}
			if c, err := req.Accept(); err == nil {
				c.Close()
			}
		},
	})
	ctx := ctxTimeout(t)
	errc := make(chan error, 2)
	for _, dst := range []string{"100.64.1.7:1", "100.64.1.8:1"} {
		go func() {
			c, err := p.host.DialTCP(ctx, netip.Addr{}, netip.MustParseAddrPort(dst))
			if err == nil {
				c.Close()
			}
			errc <- err
		}()
	}
	for p.vnet.Stats().SYNsDropped == 0 {
		if ctx.Err() != nil {
			t.Fatal("no SYN was dropped with both handshakes pending")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	for range 2 {
		if err := <-errc; err != nil {
			t.Errorf("DialTCP: %v", err)
		}
	}
}

// An accepted connection gives its place among the SYNs in flight back:
// with MaxInFlightTCP 1, a second connection is accepted while the first
// stays open (the engine's HandleTCP relays until its connection ends, so
// a place held until HandleTCP returned capped the open connections).
func TestMaxInFlightTCPCountsHandshakesOnly(t *testing.T) {
	checkGoroutines(t)
	p := newPairConfig(t, stack.Config{MaxInFlightTCP: 1, HandleTCP: relayTo(startEcho(t), nil)})
	ctx := ctxTimeout(t)
	first, err := p.host.DialTCP(ctx, netip.Addr{}, netip.MustParseAddrPort("100.64.1.7:1"))
	if err != nil {
		t.Fatalf("DialTCP first: %v", err)
	}
	defer first.Close()
	second, err := p.host.DialTCP(ctx, netip.Addr{}, netip.MustParseAddrPort("100.64.1.8:1"))
	if err != nil {
		t.Fatalf("DialTCP second, the first still open: %v", err)
	}
	defer second.Close() // (its first SYN may be dropped while the first handshake ends: it retransmits)
	if got := roundTrip(t, second, "second"); got != "second"+trailer {
		t.Errorf("second: got %q", got)
	}
	if got := roundTrip(t, first, "first"); got != "first"+trailer {
		t.Errorf("first: got %q", got)
	}
}

func TestAcceptOnce(t *testing.T) {
	checkGoroutines(t)
	type result struct {
		first, second error
		req           *stack.TCPRequest
	}
	results := make(chan result, 1)
	p := newPair(t, func(ctx context.Context, req *stack.TCPRequest) {
		conn, err := req.Accept()
		_, err2 := req.Accept()
		results <- result{err, err2, req}
		if err == nil {
			conn.Close()
		}
	})
	conn, err := p.host.DialTCP(ctxTimeout(t), netip.Addr{}, netip.MustParseAddrPort("100.64.9.9:1"))
	if err != nil {
		t.Fatalf("DialTCP: %v", err)
	}
	defer conn.Close()
	r := <-results
	if r.first != nil {
		t.Errorf("first Accept: %v", r.first)
	}
	if !errors.Is(r.second, stack.ErrRequestDone) {
		t.Errorf("second Accept: %v, want ErrRequestDone", r.second)
	}
	// HandleTCP has returned by the time Accept is called here.
	if _, err := r.req.Accept(); !errors.Is(err, stack.ErrRequestDone) {
		t.Errorf("Accept after HandleTCP returned: %v, want ErrRequestDone", err)
	}
}

func TestListenerTakesPrecedence(t *testing.T) {
	checkGoroutines(t)
	handled := make(chan *stack.TCPRequest, 1)
	p := newPair(t, func(_ context.Context, req *stack.TCPRequest) { handled <- req })
	addr := netip.AddrPortFrom(vnetDNS4, 53)
	ln, err := p.vnet.ListenTCP(addr)
	if err != nil {
		t.Fatalf("ListenTCP: %v", err)
	}
	defer ln.Close()
	if got := ln.Addr().(*net.TCPAddr).AddrPort(); got != addr {
		t.Errorf("listener Addr = %v, want %v", got, addr)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		c.Write(append([]byte("listener got "), b...))
	})
	conn, err := p.host.DialTCP(ctxTimeout(t), netip.Addr{}, addr)
	if err != nil {
		t.Fatalf("DialTCP: %v", err)
	}
	defer conn.Close()
	if got, want := roundTrip(t, conn, "q"), "listener got q"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	select {
	case req := <-handled:
		t.Errorf("HandleTCP saw %v -> %v, which the listener owns", req.Src, req.Dst)
	default:
	}
}

func TestListenerClose(t *testing.T) {
	checkGoroutines(t)
	p := newPair(t, nil)
	ln, err := p.vnet.ListenTCP(netip.AddrPortFrom(vnetDNS6, 0))
	if err != nil {
		t.Fatalf("ListenTCP: %v", err)
	}
	pc, err := p.vnet.ListenUDP(netip.AddrPortFrom(vnetDNS6, 0))
	if err != nil {
		t.Fatalf("ListenUDP: %v", err)
	}
	errc := make(chan error, 2)
	go func() {
		_, err := ln.Accept()
		errc <- err
	}()
	go func() {
		_, _, err := pc.ReadFrom(make([]byte, 10))
		errc <- err
	}()
	// Closing the Stack closes what it made.
	p.vnet.Close()
	for range 2 {
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked call returned %v, want net.ErrClosed", err)
			}
		case <-time.After(waitLong):
			t.Fatal("Close did not unblock Accept and ReadFrom")
		}
	}
	if _, err := p.vnet.ListenTCP(netip.AddrPortFrom(vnetDNS4, 53)); !errors.Is(err, stack.ErrClosed) {
		t.Errorf("ListenTCP after Close: %v, want ErrClosed", err)
	}
	ln.Close()
	pc.Close()
}

func TestListenBadAddress(t *testing.T) {
	checkGoroutines(t)
	p := newPair(t, nil)
	for _, addr := range []netip.AddrPort{
		netip.MustParseAddrPort("100.64.1.7:53"), // not owned
		netip.MustParseAddrPort("[fd00::99]:53"),
	} {
		if ln, err := p.vnet.ListenTCP(addr); !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Errorf("ListenTCP(%v): %v, want EADDRNOTAVAIL", addr, err)
			if err == nil {
				ln.Close()
			}
		}
		if pc, err := p.vnet.ListenUDP(addr); !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Errorf("ListenUDP(%v): %v, want EADDRNOTAVAIL", addr, err)
			if err == nil {
				pc.Close()
			}
		}
	}
}

func TestUDP(t *testing.T) {
	tests := []struct {
		name   string
		listen netip.AddrPort
		dial   netip.AddrPort
	}{
		{name: "IPv4", listen: netip.AddrPortFrom(vnetDNS4, 53), dial: netip.AddrPortFrom(vnetDNS4, 53)},
		{name: "IPv6", listen: netip.AddrPortFrom(vnetDNS6, 53), dial: netip.AddrPortFrom(vnetDNS6, 53)},
		{name: "IPv4 unspecified", listen: netip.MustParseAddrPort("0.0.0.0:53"), dial: netip.AddrPortFrom(vnetDNS4, 53)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			p := newPair(t, nil)
			pc, err := p.vnet.ListenUDP(tt.listen)
			if err != nil {
				t.Fatalf("ListenUDP: %v", err)
			}
			defer pc.Close()
			var wg sync.WaitGroup
			defer wg.Wait()
			defer pc.Close() // before Wait: ends the server loop
			wg.Go(func() {
				buf := make([]byte, 512)
				for {
					n, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					pc.WriteTo(append([]byte("answer to "), buf[:n]...), from)
				}
			})

			checkUDPAnswer(t, p, tt.dial)
		})
	}
}

func TestGarbageDropped(t *testing.T) {
	checkGoroutines(t)
	p := newPair(t, relayTo(startEcho(t), nil))
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	random[0] = 0xf5 // version 15
	ipv4ish := make([]byte, 60)
	for i := range ipv4ish {
		ipv4ish[i] = byte(rng.UintN(256))
	}
	ipv4ish[0] = 0x45 // passes the version check; the netstack drops it

	before := p.vnet.Stats()
	garbage := []struct {
		name    string
		pkt     []byte
		counted bool // dropped at the seam, not inside the netstack
	}{
		{"random bytes", random, true},
		{"zero length", []byte{}, true},
		{"truncated IPv4 header", []byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6}, true},
		{"truncated IPv6 header", append([]byte{0x60}, make([]byte, 30)...), true},
		{"IPv4 header with random fields", ipv4ish, false},
	}
	wantDropped := 0
	for _, g := range garbage {
		if err := p.hostIO.WritePackets([][]byte{g.pkt}); err != nil {
			t.Fatalf("%s: WritePackets: %v", g.name, err)
		}
		if g.counted {
			wantDropped++
		}
	}
	// The pipe keeps order, so once a connection made after the garbage
	// works, all the garbage has been through the stack.
	conn, err := p.host.DialTCP(ctxTimeout(t), netip.Addr{}, netip.MustParseAddrPort("100.64.1.7:5432"))
	if err != nil {
		t.Fatalf("DialTCP after garbage: %v", err)
	}
	defer conn.Close()
	if got := roundTrip(t, conn, "still alive"); got != "still alive"+trailer {
		t.Errorf("got %q", got)
	}
	if got := p.vnet.Stats().DroppedIn - before.DroppedIn; got != uint64(wantDropped) {
		t.Errorf("DroppedIn grew by %d, want %d", got, wantDropped)
	}
}

func TestCloseWithOpenConnections(t *testing.T) {
	checkGoroutines(t)
	p := newPair(t, relayTo(startEcho(t), nil))
	ctx := ctxTimeout(t)
	var conns []net.Conn
	for i := range 4 {
		dst := netip.MustParseAddrPort("100.64.1.7:5432")
		if i%2 == 1 {
			dst = netip.MustParseAddrPort("[fd00::64:107]:5432")
		}
		conn, err := p.host.DialTCP(ctx, netip.Addr{}, dst)
		if err != nil {
			t.Fatalf("DialTCP %d: %v", i, err)
		}
		defer conn.Close()
		// Make sure the relay is up before closing.
		conn.SetDeadline(time.Now().Add(waitLong))
		if _, err := conn.Write([]byte("ping")); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(conn, buf); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		conns = append(conns, conn)
	}
	if err := p.vnet.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.vnet.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.vnet.DialTCP(ctx, netip.Addr{}, netip.AddrPortFrom(host4, 80)); !errors.Is(err, stack.ErrClosed) {
		t.Errorf("DialTCP after Close: %v, want ErrClosed", err)
	}
	// The host side sees its pipe closed, stops, and aborts its end.
	for i, c := range conns {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("conn %d still readable after both stacks stopped", i)
		}
	}
	// checkGoroutines verifies the relays, HandleTCP calls and both stacks'
	// loops are gone.
}

// synPacket is a bare IPv4 TCP SYN from src to dst.
func synPacket(src, dst netip.AddrPort) []byte {
	return tcpPacket(src, dst, 1000, 0, header.TCPFlagSyn)
}

// tcpPacket is a bare IPv4 TCP segment (no options, no data) from src to
// dst, as a client's kernel would write it to the TUN.
func tcpPacket(src, dst netip.AddrPort, seq, ack uint32, flags header.TCPFlags) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize)
	ip := header.IPv4(b)
	srcA, dstA := tcpip.AddrFrom4(src.Addr().As4()), tcpip.AddrFrom4(dst.Addr().As4())
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(header.TCPProtocolNumber),
		SrcAddr:     srcA,
		DstAddr:     dstA,
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	tcp := header.TCP(b[header.IPv4MinimumSize:])
	tcp.Encode(&header.TCPFields{
		SrcPort:    src.Port(),
		DstPort:    dst.Port(),
		SeqNum:     seq,
		AckNum:     ack,
		DataOffset: header.TCPMinimumSize,
		Flags:      flags,
		WindowSize: 65535,
	})
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, srcA, dstA, header.TCPMinimumSize)
	tcp.SetChecksum(^tcp.CalculateChecksum(xsum))
	return b
}

// A client that sends a SYN and never answers the SYN-ACK leaves Accept
// waiting on the handshake; Close must end that wait, not sit out the
// SYN-ACK retransmissions.
func TestCloseDuringHandshake(t *testing.T) {
	checkGoroutines(t)
	vnetIO, peer := stacktest.Pipe(64)
	defer peer.Close()
	accepting := make(chan struct{})
	acceptErr := make(chan error, 1)
	vnet, err := stack.New(stack.Config{
		IO:     vnetIO,
		Logger: testLogger(t),
		HandleTCP: func(ctx context.Context, req *stack.TCPRequest) {
			close(accepting)
			conn, err := req.Accept()
			if err == nil {
				conn.Close()
			}
			acceptErr <- err
		},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- vnet.Run(context.Background()) }()

	syn := synPacket(netip.MustParseAddrPort("100.64.0.1:40000"), netip.MustParseAddrPort("100.64.1.7:5432"))
	if err := peer.WritePackets([][]byte{syn}); err != nil {
		t.Fatalf("write SYN: %v", err)
	}
	select {
	case <-accepting:
	case <-time.After(waitLong):
		t.Fatal("HandleTCP was not called for the SYN")
	}
	// Let the SYN-ACK go out, so Accept is surely inside the handshake.
	bufs, sizes := [][]byte{make([]byte, 1500)}, []int{0}
	if _, err := peer.ReadPackets(bufs, sizes); err != nil {
		t.Fatalf("read SYN-ACK: %v", err)
	}
	if tcp := header.TCP(bufs[0][header.IPv4MinimumSize:sizes[0]]); tcp.Flags() != header.TCPFlagSyn|header.TCPFlagAck {
		t.Errorf("answer to SYN has flags %v, want SYN|ACK", tcp.Flags())
	}

	closed := make(chan error, 1)
	go func() { closed <- vnet.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Close blocked on a pending handshake")
	}
	if err := <-acceptErr; err == nil {
		t.Error("Accept succeeded on a stack being closed")
	}
	if err := <-runErr; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// Close returns only after running HandleTCP calls have returned; they see
// their ctx cancelled.
func TestCloseWaitsForHandlers(t *testing.T) {
	checkGoroutines(t)
	started := make(chan struct{})
	var finished atomic.Bool
	p := newPair(t, func(ctx context.Context, req *stack.TCPRequest) {
		close(started)
		<-ctx.Done()
		// Work after cancellation that Close must not skip past.
		time.Sleep(50 * time.Millisecond)
		finished.Store(true)
	})
	dialErr := make(chan error, 1)
	go func() {
		conn, err := p.host.DialTCP(ctxTimeout(t), netip.Addr{}, netip.MustParseAddrPort("100.64.1.7:5432"))
		if err == nil {
			conn.Close()
		}
		dialErr <- err
	}()
	select {
	case <-started:
	case <-time.After(waitLong):
		t.Fatal("HandleTCP was not called")
	}
	if err := p.vnet.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !finished.Load() {
		t.Error("Close returned while HandleTCP was still running")
	}
	p.host.Close()
	if err := <-dialErr; err == nil {
		t.Error("dial completed although HandleTCP never accepted")
	}
}

func TestRunEndsOnContext(t *testing.T) {
	checkGoroutines(t)
	dev, peer := stacktest.Pipe(4)
	defer peer.Close()
	s, err := stack.New(stack.Config{IO: dev, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Errorf("Run: %v, want nil", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Run did not return after cancel")
	}
	// Run closed the stack, and with it the PacketIO.
	if _, err := peer.ReadPackets([][]byte{make([]byte, 10)}, []int{0}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("peer read after Run returned: %v, want net.ErrClosed", err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, stack.ErrClosed) {
		t.Errorf("second Run: %v, want ErrClosed", err)
	}
}

func TestRunFailsWhenIOFails(t *testing.T) {
	checkGoroutines(t)
	dev, peer := stacktest.Pipe(4)
	s, err := stack.New(stack.Config{IO: dev, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(context.Background()) }()
	peer.Close() // the device goes away under the stack
	select {
	case err := <-runErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Run: %v, want the read error", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Run did not return after its PacketIO failed")
	}
}

func TestConfig(t *testing.T) {
	dev, peer := stacktest.Pipe(1)
	defer peer.Close()
	tests := []struct {
		name    string
		cfg     stack.Config
		wantErr bool
	}{
		{name: "defaults", cfg: stack.Config{IO: dev}},
		{name: "no IO", cfg: stack.Config{}, wantErr: true},
		{name: "MTU too small for IPv6", cfg: stack.Config{IO: dev, MTU: 1000}, wantErr: true},
		{name: "MTU too large", cfg: stack.Config{IO: dev, MTU: 70000}, wantErr: true},
		{name: "invalid address", cfg: stack.Config{IO: dev, Addresses: []netip.Addr{{}}}, wantErr: true},
		{name: "unspecified address", cfg: stack.Config{IO: dev, Addresses: []netip.Addr{netip.IPv4Unspecified()}}, wantErr: true},
		{name: "duplicate after unmapping", cfg: stack.Config{IO: dev, Addresses: []netip.Addr{
			netip.MustParseAddr("100.64.0.2"), netip.MustParseAddr("::ffff:100.64.0.2"),
		}}, wantErr: true},
		{name: "negative in-flight bound", cfg: stack.Config{IO: dev, MaxInFlightTCP: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.CheckAndSetDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckAndSetDefaults() = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if tt.cfg.MTU != stack.DefaultMTU || tt.cfg.MaxInFlightTCP != stack.DefaultMaxInFlightTCP || tt.cfg.Logger == nil {
				t.Errorf("defaults not set: %+v", tt.cfg)
			}
		})
	}
}

// transferSize is the large transfer's size; see race_test.go.
var transferSize = 32 << 20

// A large transfer through both stacks, both ways at once, arrives intact.
func TestLargeTransfer(t *testing.T) {
	checkGoroutines(t)
	p := newPair(t, func(ctx context.Context, req *stack.TCPRequest) {
		conn, err := req.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		io.Copy(conn, conn)
		conn.(interface{ CloseWrite() error }).CloseWrite()
	})
	conn, err := p.host.DialTCP(ctxTimeout(t), netip.Addr{}, netip.MustParseAddrPort("100.64.1.7:9000"))
	if err != nil {
		t.Fatalf("DialTCP: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Minute))

	sent := sha256.New()
	writeErr := make(chan error, 1)
	go func() {
		rng := rand.NewChaCha8([32]byte{7})
		buf := make([]byte, 64<<10)
		for left := transferSize; left > 0; left -= len(buf) {
			b := buf[:min(len(buf), left)]
			rng.Read(b)
			sent.Write(b)
			if _, err := conn.Write(b); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- conn.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got := sha256.New()
	n, err := io.Copy(got, conn)
	if err != nil {
		t.Fatalf("read after %d bytes: %v", n, err)
	}
	if err := <-writeErr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if n != int64(transferSize) {
		t.Fatalf("read %d bytes, want %d", n, transferSize)
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Error("bytes received differ from bytes sent")
	}
	t.Logf("stats: vnet %+v host %+v", p.vnet.Stats(), p.host.Stats())
}

// checkUDPAnswer sends "query" from the host side to addr and checks that
// "answer to query" comes back.
func checkUDPAnswer(t *testing.T, p *pair, addr netip.AddrPort) {
	t.Helper()
	conn, err := p.host.DialUDP(netip.Addr{}, addr)
	if err != nil {
		t.Fatalf("DialUDP: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitLong))
	if _, err := conn.Write([]byte("query")); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if got, want := string(buf[:n]), "answer to query"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestWriteBuffers: WriteBuffers delivers its buffers whole and in order,
// as one Write of their concatenation would, also when they are more than
// the send buffer takes at once (the rest then waits for room), and with
// empty buffers among them.
func TestWriteBuffers(t *testing.T) {
	checkGoroutines(t)
	var want []byte
	var bufs [][]byte
	for i := range 300 {
		b := make([]byte, (i*7919)%40000)
		for j := range b {
			b[j] = byte(i + j)
		}
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	p := newPair(t, func(ctx context.Context, req *stack.TCPRequest) {
		c, err := req.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if n, err := c.(*stack.Conn).WriteBuffers(bufs); n != int64(len(want)) || err != nil {
			t.Errorf("WriteBuffers: %d of %d bytes, %v", n, len(want), err)
		}
	})
	ctx := ctxTimeout(t)
	c, err := p.host.DialTCP(ctx, netip.Addr{}, netip.MustParseAddrPort("100.64.1.7:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLong))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("read %d bytes, %v; want the %d written, in order", len(got), err, len(want))
	}
}
