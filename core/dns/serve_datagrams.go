package dns

import (
	"context"
	"net/netip"
	"sync"
)

// Datagrams answers UDP queries that a packet path hands over one at a
// time (core/stack's HandleUDP in VNet) instead of reading them from a
// socket. A query the Server answers itself is answered on the caller's
// goroutine, so a netstack delivers it and sends the answer without a
// socket's receive queue or a goroutine hand-over; a forwarded one goes to
// a forwarding goroutine as with ServeUDP. Made by ServeDatagrams.
type Datagrams struct {
	s      *Server                                       // never nil
	send   func(from, to netip.AddrPort, b []byte) error // never nil
	ctx    context.Context                               // ends with Close or the Server's Close
	cancel context.CancelFunc                            // ends ctx
	fwd    *udpForwarders                                // never nil
	done   func()                                        // ends the Server's count of this Serve

	mu     sync.RWMutex // Handle holds it for reading; Close for writing
	closed bool         // guarded by mu
}

// ServeDatagrams starts answering the datagrams given to Handle until ctx
// is done, the Server is closed, or Close is called. Answers go out with
// send, from the address and port a query was sent to, to its sender; send
// must be safe for concurrent use and must not block for long.
func (s *Server) ServeDatagrams(ctx context.Context, send func(from, to netip.AddrPort, b []byte) error) (*Datagrams, error) {
	ctx, done, err := s.startServe(ctx)
	if err != nil {
		return nil, err
	}
	d := &Datagrams{s: s, send: send, fwd: newUDPForwarders(s), done: done}
	d.ctx, d.cancel = context.WithCancel(ctx)
	context.AfterFunc(d.ctx, func() { d.Close() })
	return d, nil
}

// Handle answers the query in pkt, sent by src to dst. It does not block
// and does not keep pkt. After Close it does nothing.
func (d *Datagrams) Handle(src, dst netip.AddrPort, pkt []byte) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return
	}
	sc := datagramScratches.Get().(*datagramScratch)
	sc.reply = datagramReply{send: d.send, from: dst, to: src}
	d.s.answerUDP(d.ctx, pkt, &sc.reply, d.fwd, &sc.out)
	sc.reply = datagramReply{}
	datagramScratches.Put(sc)
}

// Close stops answering, abandons the forwarded queries in flight and
// waits until their goroutines have ended. It is idempotent.
func (d *Datagrams) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.fwd.stop()
	d.done()
	return nil
}

// datagramScratch is what Handle needs per query: a buffer to pack an
// answer into and where the answer goes, which answerUDP copies when it
// keeps it (keepReply): an interface holding the reply by value was an
// allocation per query.
type datagramScratch struct {
	out   []byte
	reply datagramReply
}

var datagramScratches = sync.Pool{New: func() any { return &datagramScratch{out: make([]byte, 0, serverUDPSize)} }}

// datagramReply answers through a Datagrams' send.
type datagramReply struct {
	send     func(from, to netip.AddrPort, b []byte) error
	from, to netip.AddrPort
}

func (r datagramReply) reply(b []byte) error { return r.send(r.from, r.to, b) }
