// Package stack runs VNet's userspace TCP/IP stack (gVisor netstack) over a
// PacketIO.
package stack

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// nicID is the netstack's one NIC, the PacketIO.
const nicID tcpip.NICID = 1

// TCP buffer sizes, in bytes. The netstack's TCP peer is always a program
// on this machine, across the TUN device: a round trip of microseconds, so
// gVisor's default 1 MiB covers even 10 Gbit/s, and a larger buffer only
// holds more data while the tunnel, the slower side, drains it. Tailscale
// raises the caps to 8 MiB receive and 6 MiB send (wgengine/netstack,
// netstack_tcpbuf_default.go) because its netstack's peers are across the
// network; VNet's long path is the tunnel, whose window is gRPC's. With
// those caps, receive-buffer moderation and send-buffer auto-tuning grew
// each connection's buffers to several MiB under iperf3 -P 8 (37 MiB of
// the engine's heap in gVisor's receive queues in an upload), with no
// gain in throughput (docs/benchmarks.md, "Memory (issue 12)"). So both
// buffers start at 1 MiB and stay there: per connection at most 1 MiB
// received and not yet read, 1 MiB written and not yet acknowledged.
const (
	tcpRXBufMin = tcp.MinBufferSize
	tcpRXBufDef = tcp.DefaultReceiveBufferSize
	tcpRXBufMax = 1 << 20
	tcpTXBufMin = tcp.MinBufferSize
	tcpTXBufDef = tcp.DefaultSendBufferSize
	tcpTXBufMax = 1 << 20
)

// Stack is a gVisor netstack with one NIC whose packets come from and go to
// a PacketIO. Make it with New, start it with Run, stop it with Close.
type Stack struct {
	cfg  Config
	ns   *stack.Stack    // never nil
	link *link           // never nil
	fwd  *tcp.Forwarder  // nil when cfg.HandleTCP is nil
	ctx  context.Context // given to HandleTCP; cancelled by Close

	cancel    context.CancelFunc
	done      chan struct{} // closed when Close starts
	closeOnce sync.Once
	closeErr  error // set inside closeOnce

	// mu is never held while calling into gVisor or user code; it may be
	// taken while TCPRequest.mu is held, never the other way round.
	mu          sync.Mutex
	closed      bool                                   // guarded by mu
	running     bool                                   // guarded by mu; Run was called
	synInFlight map[stack.TransportEndpointID]struct{} // guarded by mu; see handleTCPPacket
	closers     map[closer]struct{}                    // guarded by mu; listeners Close must shut

	// loops counts Run's reader and writer; handlers counts HandleTCP
	// goroutines. Add is called only under mu while !closed, so Close can
	// Wait on them once it has set closed.
	loops    sync.WaitGroup
	handlers sync.WaitGroup

	synDropped atomic.Uint64

	// udpHandlers are HandleUDP's, by address and port; replaced whole
	// under mu, read without it on the packet path.
	udpHandlers atomic.Pointer[map[netip.AddrPort]UDPHandler]
}

// closer is something the Stack made that Close shuts down.
type closer interface{ shut() }

// New builds a Stack over cfg.IO. On error nothing is left running and
// cfg.IO is not closed.
func New(cfg Config) (*Stack, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	ns := stack.New(stack.Options{
		NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		// No ICMP transport: echo replies and errors come from the IP
		// layer; the ICMP transport only adds ping sockets, which VNet
		// does not open.
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	done := make(chan struct{})
	l := newLink(cfg.IO, cfg.MTU, done)
	if err := configure(ns, l, cfg.Addresses); err != nil {
		ns.Destroy()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Stack{
		cfg:         cfg,
		ns:          ns,
		link:        l,
		ctx:         ctx,
		cancel:      cancel,
		done:        done,
		synInFlight: make(map[stack.TransportEndpointID]struct{}),
		closers:     make(map[closer]struct{}),
	}
	if cfg.HandleTCP != nil {
		// rcvWnd 0: the handshake advertises the default receive buffer.
		s.fwd = tcp.NewForwarder(ns, 0, cfg.MaxInFlightTCP, s.forward)
		ns.SetTransportProtocolHandler(tcp.ProtocolNumber, s.handleTCPPacket)
	}
	ns.SetTransportProtocolHandler(udp.ProtocolNumber, s.handleUDPPacket)
	l.takeUDP = s.takeUDP // udpfast.go
	return s, nil
}

// configure sets the TCP options, the NIC, its addresses and the routes.
func configure(ns *stack.Stack, l *link, addrs []netip.Addr) error {
	sack := tcpip.TCPSACKEnabled(true)
	// RACK off: gVisor's RACK handles ACKs late on a fast local link,
	// retransmits spuriously and shrinks the congestion window
	// (tailscale/tailscale#9707); SACK recovery does the job.
	recovery := tcpip.TCPRecovery(0)
	// Reno, named so that a change of gVisor's default cannot switch it:
	// cubic's window arithmetic can overflow (google/gvisor#11632).
	reno := tcpip.CongestionControlOption("reno")
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: tcpRXBufMin, Default: tcpRXBufDef, Max: tcpRXBufMax}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: tcpTXBufMin, Default: tcpTXBufDef, Max: tcpTXBufMax}
	// Receive buffer moderation (auto-tuning) grows a buffer from its
	// default toward the maximum above, and may start it below the
	// default; named so that a change of gVisor's default cannot switch it.
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	// No TIME_WAIT. When the app's side closes first, the netstack is the
	// active closer and would hold the connection's four-tuple for 60 s;
	// the client, which closed second, keeps no TIME_WAIT of its own and
	// may reuse its port at once, and gVisor hands a new SYN in TIME_WAIT
	// only to a listener, never to the forwarder: that SYN was dropped
	// until the 60 s were over (pgbench -C stalled 35–69 s). TIME_WAIT
	// guards against a network's delayed duplicates; a TUN to this host's
	// kernel holds none.
	timeWait := tcpip.TCPTimeWaitTimeoutOption(0)
	for _, opt := range []tcpip.SettableTransportProtocolOption{&sack, &recovery, &reno, &rcv, &snd, &moderate, &timeWait} {
		if err := ns.SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
			return fmt.Errorf("set TCP option %T: %w", opt, netError(err))
		}
	}
	if err := ns.CreateNIC(nicID, l); err != nil {
		return fmt.Errorf("create NIC: %w", netError(err))
	}
	// Promiscuous: accept packets to any destination, so a SYN to any
	// virtual IP reaches the forwarder. Spoofing: send from any source, so
	// the reply leaves from that virtual IP.
	if err := ns.SetPromiscuousMode(nicID, true); err != nil {
		return fmt.Errorf("set promiscuous mode: %w", netError(err))
	}
	if err := ns.SetSpoofing(nicID, true); err != nil {
		return fmt.Errorf("set spoofing: %w", netError(err))
	}
	for _, a := range addrs {
		pa := tcpip.ProtocolAddress{
			Protocol:          netProto(a),
			AddressWithPrefix: tcpip.AddressWithPrefix{Address: toTCPIP(a), PrefixLen: a.BitLen()},
		}
		if err := ns.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			return fmt.Errorf("add address %s: %w", a, netError(err))
		}
	}
	// Everything goes out the one NIC; the OS routes only VNet's ranges to
	// the TUN, so what comes back is all VNet's.
	ns.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: nicID},
		{Destination: header.IPv6EmptySubnet, NIC: nicID},
	})
	return nil
}

// Run moves packets between the PacketIO and the netstack until ctx is done,
// Close is called, or reading the PacketIO fails. Whichever it is, the Stack
// is closed when Run returns, because only closing the PacketIO unblocks a
// pending read. Run returns nil after ctx is done or Close, the read error
// otherwise. It may be called once.
func (s *Stack) Run(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.running:
		s.mu.Unlock()
		return errRunning
	}
	s.running = true
	s.loops.Add(1 + s.link.queues)
	s.mu.Unlock()

	// One reader per queue; the first to fail ends Run (closing the
	// PacketIO then ends the others).
	readErr := make(chan error, s.link.queues)
	for q := range s.link.queues {
		go func() {
			defer s.loops.Done()
			readErr <- s.link.readLoop(q)
		}()
	}
	go func() {
		defer s.loops.Done()
		s.link.writeLoop()
	}()

	var err error
	select {
	case <-ctx.Done():
	case <-s.done:
	case err = <-readErr:
		select {
		case <-s.done:
			// The read failed because Close closed the PacketIO.
			err = nil
		default:
			err = fmt.Errorf("read packets: %w", err)
			s.cfg.Logger.Error("Packet input failed; stopping the network stack.", "error", err)
		}
	}
	s.Close()
	return err
}

// Close stops the Stack: HandleTCP contexts are cancelled, listeners and the
// PacketIO are closed, every connection is aborted, and Close returns once
// every goroutine the Stack started (Run's loops and running HandleTCP
// calls) has returned. It is idempotent and returns the PacketIO's Close
// error.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		closers := s.closers
		s.closers = nil
		s.mu.Unlock()

		close(s.done)
		s.cancel()
		for c := range closers {
			c.shut()
		}
		s.closeErr = s.cfg.IO.Close()
		// Stop the loops before tearing down the netstack, so no packet is
		// delivered to protocols that are shutting down.
		s.loops.Wait()
		// Aborting the endpoints wakes Accept calls in the middle of a
		// handshake and readers of open connections.
		s.ns.Close()
		s.waitHandlers()
		s.ns.Wait()
		s.link.close()
	})
	return s.closeErr
}

// waitHandlers waits for the HandleTCP goroutines. A handler that calls
// Accept just as Close runs may register its handshake endpoint after the
// ns.Close above aborted the ones it saw, and would then wait for the
// SYN-ACK retransmissions to time out, which takes minutes. Aborting the
// newcomers every few milliseconds ends such a wait at once.
func (s *Stack) waitHandlers() {
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			for _, ep := range s.ns.RegisteredEndpoints() {
				ep.Abort()
			}
		}
	}
}

// Stats returns the packet counters of the link between the PacketIO and
// the netstack.
func (s *Stack) Stats() Stats {
	st := s.link.stats()
	st.SYNsDropped = s.synDropped.Load()
	return st
}

func (s *Stack) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers c to be shut by Close. It fails once Close has started.
func (s *Stack) track(c closer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closers[c] = struct{}{}
	return nil
}

// untrack forgets c, which has been closed by its owner.
func (s *Stack) untrack(c closer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.closers, c)
}
