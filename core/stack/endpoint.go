package stack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// listenBacklog is the accept queue of a listener; Go's net package uses
// the kernel's somaxconn, 4096 on current Linux.
const listenBacklog = 4096

// ListenTCP listens on addr, which must be one of Config.Addresses, or an
// unspecified address to listen on every address of that family. A
// listener takes precedence over HandleTCP: SYNs to its address and port
// never reach HandleTCP. Beware that on the promiscuous NIC an unspecified
// address also catches that port on every virtual IP. Port 0 picks a free
// port; Addr tells which. Close of the Stack closes the listener, and
// Accept then fails with net.ErrClosed.
func (s *Stack) ListenTCP(addr netip.AddrPort) (net.Listener, error) {
	ep, wq, err := s.bind(tcp.ProtocolNumber, addr)
	if err != nil {
		return nil, opError("listen", "tcp", addr, err)
	}
	if terr := ep.Listen(listenBacklog); terr != nil {
		ep.Close()
		return nil, opError("listen", "tcp", addr, netError(terr))
	}
	l := &tcpListener{l: gonet.NewTCPListener(s.ns, wq, ep), s: s}
	if err := s.track(l); err != nil {
		l.shut()
		return nil, opError("listen", "tcp", addr, err)
	}
	return l, nil
}

// ListenUDP opens a UDP socket on addr, with the same rules for addr as
// ListenTCP. The returned *gonet.UDPConn is unconnected: ReadFrom gives each
// datagram's sender and WriteTo answers it. Close of the Stack closes it,
// and ReadFrom then fails with net.ErrClosed.
func (s *Stack) ListenUDP(addr netip.AddrPort) (net.PacketConn, error) {
	ep, wq, err := s.bind(udp.ProtocolNumber, addr)
	if err != nil {
		return nil, opError("listen", "udp", addr, err)
	}
	c := &udpConn{UDPConn: gonet.NewUDPConn(wq, ep), s: s}
	if err := s.track(c); err != nil {
		c.shut()
		return nil, opError("listen", "udp", addr, err)
	}
	return c, nil
}

// bind makes an endpoint of the transport protocol bound to addr.
func (s *Stack) bind(proto tcpip.TransportProtocolNumber, addr netip.AddrPort) (tcpip.Endpoint, *waiter.Queue, error) {
	if s.isClosed() {
		return nil, nil, ErrClosed
	}
	a := addr.Addr().Unmap()
	if !a.IsValid() {
		return nil, nil, fmt.Errorf("invalid address %q", addr)
	}
	// The promiscuous NIC would let gVisor bind any address; holding
	// listeners to the configured ones catches a misconfigured caller.
	if !a.IsUnspecified() && !slices.Contains(s.cfg.Addresses, a) {
		return nil, nil, fmt.Errorf("%s is not one of the stack's addresses: %w", a, syscall.EADDRNOTAVAIL)
	}
	wq := new(waiter.Queue)
	ep, terr := s.ns.NewEndpoint(proto, netProto(a), wq)
	if terr != nil {
		return nil, nil, netError(terr)
	}
	if a.Is6() && a.IsUnspecified() {
		// Keep the families apart, as net.Listen("tcp6") does; IPv4 has
		// its own listener.
		ep.SocketOptions().SetV6Only(true)
	}
	if terr := ep.Bind(fullAddress(netip.AddrPortFrom(a, addr.Port()))); terr != nil {
		ep.Close()
		return nil, nil, netError(terr)
	}
	return ep, wq, nil
}

// DialTCP connects from src to dst through the stack and returns a
// *gonet.TCPConn. src may be any address of dst's family, owned or not
// (the NIC spoofs, so a test can play many clients), or the zero Addr,
// which picks one of Config.Addresses of that family. Refusal shows
// as an error wrapping syscall.ECONNREFUSED, as on a kernel socket. This is
// how a process on the "host" side of an in-process test reaches VNet: it
// runs a second Stack on the other end of a stacktest.Pipe and dials
// through it.
func (s *Stack) DialTCP(ctx context.Context, src netip.Addr, dst netip.AddrPort) (net.Conn, error) {
	ep, wq, err := s.dialEndpoint(tcp.ProtocolNumber, src, dst)
	if err != nil {
		return nil, opError("dial", "tcp", dst, err)
	}
	// Register before Connect: the handshake may finish before Connect
	// returns.
	entry, notify := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)

	terr := ep.Connect(fullAddress(dst))
	if _, ok := terr.(*tcpip.ErrConnectStarted); ok {
		select {
		case <-notify:
			terr = ep.LastError()
		case <-ctx.Done():
			ep.Close()
			return nil, opError("dial", "tcp", dst, ctx.Err())
		case <-s.done:
			ep.Close()
			return nil, opError("dial", "tcp", dst, ErrClosed)
		}
	}
	if terr != nil {
		ep.Close()
		return nil, opError("dial", "tcp", dst, netError(terr))
	}
	return gonet.NewTCPConn(wq, ep), nil
}

// DialUDP returns a UDP socket from src (any address, as for DialTCP)
// connected to dst, a *gonet.UDPConn.
func (s *Stack) DialUDP(src netip.Addr, dst netip.AddrPort) (net.Conn, error) {
	ep, wq, err := s.dialEndpoint(udp.ProtocolNumber, src, dst)
	if err != nil {
		return nil, opError("dial", "udp", dst, err)
	}
	if terr := ep.Connect(fullAddress(dst)); terr != nil {
		ep.Close()
		return nil, opError("dial", "udp", dst, netError(terr))
	}
	return gonet.NewUDPConn(wq, ep), nil
}

// dialEndpoint makes an endpoint for a connection from src to dst, bound to
// src if it is given.
func (s *Stack) dialEndpoint(proto tcpip.TransportProtocolNumber, src netip.Addr, dst netip.AddrPort) (tcpip.Endpoint, *waiter.Queue, error) {
	if s.isClosed() {
		return nil, nil, ErrClosed
	}
	da := dst.Addr().Unmap()
	if !da.IsValid() || da.IsUnspecified() || dst.Port() == 0 {
		return nil, nil, fmt.Errorf("invalid destination %q", dst)
	}
	src = src.Unmap()
	if src.IsValid() && src.Is4() != da.Is4() {
		return nil, nil, fmt.Errorf("source %s and destination %s are of different families", src, da)
	}
	wq := new(waiter.Queue)
	ep, terr := s.ns.NewEndpoint(proto, netProto(da), wq)
	if terr != nil {
		return nil, nil, netError(terr)
	}
	if src.IsValid() {
		if terr := ep.Bind(fullAddress(netip.AddrPortFrom(src, 0))); terr != nil {
			ep.Close()
			return nil, nil, fmt.Errorf("bind %s: %w", src, netError(terr))
		}
	}
	return ep, wq, nil
}

// opError wraps err the way the net package does, so callers can use
// errors.Is and net.Error on it alike for both kinds of socket.
func opError(op, network string, addr netip.AddrPort, err error) error {
	var a net.Addr
	if network == "tcp" {
		a = net.TCPAddrFromAddrPort(addr)
	} else {
		a = net.UDPAddrFromAddrPort(addr)
	}
	return &net.OpError{Op: op, Net: network, Addr: a, Err: err}
}

// tcpListener is a gonet listener that the Stack can shut and whose Accept
// reports net.ErrClosed once it is closed, which is what accept loops test.
type tcpListener struct {
	l      *gonet.TCPListener // never nil
	s      *Stack             // never nil
	once   sync.Once
	closed atomic.Bool
}

// Accept implements net.Listener.
func (l *tcpListener) Accept() (net.Conn, error) {
	c, err := l.l.Accept()
	if err != nil && l.closed.Load() {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.l.Addr(), Err: net.ErrClosed}
	}
	return c, err
}

// Addr implements net.Listener.
func (l *tcpListener) Addr() net.Addr { return l.l.Addr() }

// Close implements net.Listener.
func (l *tcpListener) Close() error {
	l.shut()
	l.s.untrack(l)
	return nil
}

func (l *tcpListener) shut() {
	l.once.Do(func() {
		l.closed.Store(true)
		// Shutdown wakes a blocked Accept; Close alone does not.
		l.l.Shutdown()
		l.l.Close()
	})
}

// udpConn is a gonet UDP socket that the Stack can shut and whose ReadFrom
// reports net.ErrClosed once it is closed.
type udpConn struct {
	*gonet.UDPConn // never nil
	s              *Stack
	once           sync.Once
	closed         atomic.Bool
}

// ReadFrom implements net.PacketConn.
func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.UDPConn.ReadFrom(b)
	if err != nil && c.closed.Load() {
		return n, addr, &net.OpError{Op: "read", Net: "udp", Addr: c.LocalAddr(), Err: net.ErrClosed}
	}
	return n, addr, err
}

// Close implements net.PacketConn.
func (c *udpConn) Close() error {
	c.shut()
	c.s.untrack(c)
	return nil
}

func (c *udpConn) shut() {
	c.once.Do(func() {
		c.closed.Store(true)
		c.UDPConn.Close()
	})
}
