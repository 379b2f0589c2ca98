package stack

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// TCPRequest is a SYN that has not been answered yet. HandleTCP decides:
// it dials the destination first and calls Accept only when that worked
// (dial before accept), so a client whose app is unreachable is refused at
// once instead of seeing a connection that dies.
type TCPRequest struct {
	// Src is the client: the address and port the SYN came from.
	Src netip.AddrPort
	// Dst is where the client wants to go: the virtual IP and port the SYN
	// was sent to.
	Dst netip.AddrPort

	s *Stack // never nil

	// mu is held across the handshake in Accept. Lock order: mu before
	// Stack.mu.
	mu    sync.Mutex
	fr    *tcp.ForwarderRequest // guarded by mu; nil once answered
	reset bool                  // guarded by mu; the answer was a RST
}

// Accept completes the client's handshake and returns the connection, a
// *Conn, which also has CloseWrite, CloseRead and Abort. It blocks until
// the handshake ends. If HandleTCP returns without calling Accept the client
// gets a RST at once (connection refused). Accept may be called at most
// once; later calls, and calls after HandleTCP returned, give ErrRequestDone.
func (r *TCPRequest) Accept() (net.Conn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fr == nil {
		return nil, ErrRequestDone
	}
	fr := r.fr
	r.fr = nil
	if r.s.isClosed() {
		r.complete(fr, true)
		return nil, ErrClosed
	}
	var wq waiter.Queue
	ep, terr := fr.CreateEndpoint(&wq)
	if terr != nil {
		// The client went away during the handshake, or the stack is
		// closing. A RST tells a client that is still there.
		r.complete(fr, true)
		return nil, fmt.Errorf("accept %s -> %s: %w", r.Src, r.Dst, netError(terr))
	}
	r.complete(fr, false)
	// Keepalive as a kernel socket with SO_KEEPALIVE would: a client that
	// vanished without a FIN is noticed and its connection reclaimed.
	ep.SocketOptions().SetKeepAlive(true)
	idle := tcpip.KeepaliveIdleOption(keepaliveIdle)
	ep.SetSockOpt(&idle)
	interval := tcpip.KeepaliveIntervalOption(keepaliveInterval)
	ep.SetSockOpt(&interval)
	return &Conn{TCPConn: gonet.NewTCPConn(&wq, ep), ep: ep}, nil
}

// Keepalive timing of accepted connections.
const (
	keepaliveIdle     = 60 * time.Second
	keepaliveInterval = 15 * time.Second
)

// Conn is an accepted TCP connection. Besides net.Conn's methods it
// half-closes (CloseWrite, CloseRead) and can Abort.
type Conn struct {
	*gonet.TCPConn
	ep tcpip.Endpoint
}

// Abort ends the connection with a RST instead of a FIN, as a kernel
// socket closed with SO_LINGER 0 does: the client sees "connection reset",
// not a clean end of data, when what it was talking to broke.
func (c *Conn) Abort() error {
	c.ep.Abort()
	return c.TCPConn.Close()
}

// finish refuses the request unless Accept has answered it, and tells
// whether the client got a RST.
func (r *TCPRequest) finish() (reset bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fr != nil {
		r.complete(r.fr, true)
		r.fr = nil
	}
	return r.reset
}

// complete answers the request (a RST if reset) and frees its place among
// the SYNs in flight: from now on its connection, if any, is gVisor's
// endpoint's, and a later SYN of the same four-tuple is a new request.
// Called with r.mu held, once per request.
func (r *TCPRequest) complete(fr *tcp.ForwarderRequest, reset bool) {
	id := fr.ID() // Complete releases what ID reads
	fr.Complete(reset)
	r.reset = reset
	r.s.mu.Lock()
	delete(r.s.synInFlight, id)
	r.s.mu.Unlock()
}

// handleTCPPacket sees every TCP segment that matched no endpoint (no
// listener, no connection) and passes it to gVisor's forwarder.
//
// It keeps its own set of SYNs in flight, a superset of the forwarder's:
// an entry is added before the forwarder sees the SYN and removed only
// after the request is completed (TCPRequest.complete), not when
// HandleTCP returns: a connection that lives on does not hold a place,
// so MaxInFlightTCP bounds the handshakes being decided, not the open
// connections. When this set admits a SYN the forwarder admits it too,
// and a true from HandlePacket means the forwarder started a goroutine
// for it; s.handlers counts that goroutine until HandleTCP returns, which
// lets Close wait for every one, including one gVisor has started but
// that has not run yet.
func (s *Stack) handleTCPPacket(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false // the netstack answers with a RST
	}
	if _, ok := s.synInFlight[id]; ok {
		// A retransmitted SYN while HandleTCP is deciding, or a stray
		// segment of the same flow: the decision will answer it.
		s.mu.Unlock()
		return true
	}
	if len(s.synInFlight) >= s.cfg.MaxInFlightTCP {
		// Dropped, not refused: the client retransmits the SYN and may get
		// through once the burst is over.
		s.mu.Unlock()
		s.synDropped.Add(1)
		return true
	}
	s.synInFlight[id] = struct{}{}
	s.handlers.Add(1)
	s.mu.Unlock()

	if s.fwd.HandlePacket(id, pkt) {
		return true // forward owns the entry and the handlers count now
	}
	// Not a well-formed SYN; the netstack answers it with a RST.
	s.mu.Lock()
	delete(s.synInFlight, id)
	s.mu.Unlock()
	s.handlers.Done()
	return false
}

// forward runs in the goroutine gVisor's forwarder starts for each SYN.
func (s *Stack) forward(fr *tcp.ForwarderRequest) {
	id := fr.ID()
	req := &TCPRequest{
		Src: netip.AddrPortFrom(fromTCPIP(id.RemoteAddress), id.RemotePort),
		Dst: netip.AddrPortFrom(fromTCPIP(id.LocalAddress), id.LocalPort),
		s:   s,
		fr:  fr,
	}
	defer func() {
		if req.finish() {
			s.cfg.Logger.Debug("TCP connection refused", "src", req.Src, "dst", req.Dst)
		}
		s.handlers.Done()
	}()
	s.cfg.HandleTCP(s.ctx, req)
}

// WriteBuffers writes bufs in order, as one Write of their concatenation
// would, without joining them: a tunnelled connection's received frame
// lies in several of gRPC's buffers (tunnel.Conn.WriteTo), and one Write
// per buffer could send a small segment for each. What the send buffer
// takes at once goes in one netstack write; the rest, if it is full, goes
// through Write, which waits for room.
func (c *Conn) WriteBuffers(bufs [][]byte) (int64, error) {
	p := &buffersPayload{bufs: bufs}
	for _, b := range bufs {
		p.left += len(b)
	}
	// An error (the send buffer full, the connection broken) leaves the
	// rest to Write, which waits for room or reports it in net.Conn's
	// terms, as gonet does. The rest starts at the count gVisor returns,
	// not where it stopped reading p: a write that lost buffer room to
	// another meanwhile keeps less than it read.
	n, _ := c.ep.Write(p, tcpip.WriteOptions{})
	skip := n
	for _, b := range bufs {
		if skip >= int64(len(b)) {
			skip -= int64(len(b))
			continue
		}
		k, err := c.TCPConn.Write(b[skip:])
		skip = 0
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// buffersPayload is a tcpip.Payloader over several buffers; it leaves
// the caller's slice as it was.
type buffersPayload struct {
	bufs [][]byte // what is left: bufs[0][off:], then bufs[1:]
	off  int
	left int
}

func (p *buffersPayload) Len() int { return p.left }

func (p *buffersPayload) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && len(p.bufs) > 0 {
		k := copy(b[n:], p.bufs[0][p.off:])
		n += k
		p.left -= k
		if p.off += k; p.off == len(p.bufs[0]) {
			p.bufs, p.off = p.bufs[1:], 0
		}
	}
	return n, nil
}
