package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// ServeUDP answers the queries that arrive on pc until ctx is done, the
// Server is closed, or pc is closed; those three return nil, any other read
// error is returned. ServeUDP owns pc: it closes it, and returns only after
// every query it read has been answered or abandoned.
//
// Several goroutines read pc, one per CPU (at least two): a netstack
// socket hands over one datagram per read, and one reader would make the
// whole server wait on each hand-over. A query the Server answers itself
// is answered by the goroutine that read it; a forwarded query, which
// waits for the upstream, goes to a forwarding goroutine (udpForwarders).
func (s *Server) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	ctx, done, err := s.startServe(ctx)
	if err != nil {
		return err
	}
	defer done()
	fwd := newUDPForwarders(s)
	defer func() {
		pc.Close()
		fwd.stop()
	}()
	stop := context.AfterFunc(ctx, func() { pc.Close() }) // unblocks ReadFrom
	defer stop()

	n := max(2, runtime.GOMAXPROCS(0))
	errs := make(chan error, n)
	for range n {
		go func() { errs <- s.readUDP(ctx, pc, fwd) }()
	}
	// The first reader to return ends the others.
	first := <-errs
	pc.Close()
	for range n - 1 {
		<-errs
	}
	return first
}

// readUDP is one reader of ServeUDP.
func (s *Server) readUDP(ctx context.Context, pc net.PacketConn, fwd *udpForwarders) error {
	// The forwarded queries' contexts hang off one per reader: off the
	// shared one, their registering and unregistering with it contend on
	// its lock (a tenth of the CPU time of a forwarded query).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	buf := make([]byte, mdns.MaxMsgSize)
	out := make([]byte, 0, serverUDPSize)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("dns: read udp: %w", err)
		}
		s.answerUDP(ctx, buf[:n], sockReply{pc: pc, to: addr}, fwd, &out)
	}
}

// replyTo sends an answer back to where its query came from.
type replyTo interface {
	reply(b []byte) error
}

// keepReply is to, kept for after the call that got it returns: a
// *datagramReply points into the caller's scratch (Datagrams.Handle) and
// is copied, into room when not nil.
func keepReply(to replyTo, room *datagramReply) replyTo {
	r, ok := to.(*datagramReply)
	if !ok {
		return to
	}
	if room == nil {
		room = new(datagramReply)
	}
	*room = *r
	return room
}

// sockReply answers through the socket the query came in on.
type sockReply struct {
	pc net.PacketConn
	to net.Addr
}

func (r sockReply) reply(b []byte) error {
	_, err := r.pc.WriteTo(b, r.to)
	return err
}

// answerUDP answers the query in pkt: at once when the Server answers it
// itself, packed into *out (grown as needed), through fwd when it must be
// forwarded. It does not block. pkt may be reused once it returns.
func (s *Server) answerUDP(ctx context.Context, pkt []byte, to replyTo, fwd *udpForwarders, out *[]byte) {
	select {
	case s.querySlots <- struct{}{}:
	default:
		// Full: drop, the client retries (see the package doc).
		s.stats.dropped.Add(1)
		return
	}
	q, plain := parseQuery(pkt) // fastpath.go
	own := false
	if plain {
		var ans Answer
		ans, own = s.cfg.Resolver.Resolve(ctx, q.name, q.qtype)
		if own {
			if b, ok := appendAnswer((*out)[:0], binary.BigEndian.Uint16(pkt), q, ans); ok {
				s.stats.queries.Add(1)
				s.stats.answered.Add(1)
				if err := to.reply(b); err != nil && ctx.Err() == nil {
					s.cfg.Logger.DebugContext(ctx, "dns: write udp answer", "err", err)
				}
				*out = b[:0]
				<-s.querySlots
				return
			}
		}
	}
	if plain && !own {
		if up, ok := s.cfg.Upstream.(wireUpstream); ok && fwd.forwardWire(ctx, up, pkt, q, to) {
			s.stats.queries.Add(1)
			return // the slot is released by finishWire
		}
	}
	req := new(mdns.Msg)
	if err := req.Unpack(pkt); err != nil {
		// Ignored rather than answered FORMERR: a reply to garbage
		// from a spoofed source would make us a reflector.
		s.stats.malformed.Add(1)
		<-s.querySlots
		return
	}
	// Unpack copies what it keeps: req does not point into pkt.
	var (
		resp  *mdns.Msg
		local bool
	)
	if plain && !own {
		// handleLocal would find what parseQuery and Resolve found: a
		// well-formed query for a name that is not VNet's.
		s.stats.queries.Add(1)
	} else {
		resp, local = s.handleLocal(ctx, req)
	}
	if local {
		*out = s.writeUDP(ctx, to, req, resp, *out)
		<-s.querySlots
		return
	}
	fwd.start(ctx, udpJob{req: req, to: keepReply(to, nil)})
}

// forwarderIdle is how long a forwarding goroutine waits for another
// query before it ends.
const forwarderIdle = 10 * time.Second

// udpForwarders are the goroutines that forward ServeUDP's queries. One
// lives on after its query, waiting forwarderIdle for the next: a fresh
// goroutine per query grew its stack anew each time (a tenth of a
// forwarded query's CPU). There are never more than MaxInFlight: a new
// one starts only when none is idle, and each busy one holds a query slot.
//
// Queries forwarded on the wire (forward_wire.go) need no goroutine; one
// handed over to the general path comes here as a job with its handover.
// Those may come after stop, which does not wait for them: they are
// dropped then.
type udpForwarders struct {
	s       *Server
	jobs    chan udpJob    // unbuffered: a send succeeds when one is idle
	quit    chan struct{}  // closed by stop
	running sync.WaitGroup // one per goroutine

	mu      sync.Mutex // held by stop and by a handed-over query's start
	stopped bool       // guarded by mu
}

// udpJob is a query to forward, holding a query slot.
type udpJob struct {
	req *mdns.Msg
	to  replyTo
	h   *handover // when the query was forwarded on the wire first
}

func newUDPForwarders(s *Server) *udpForwarders {
	return &udpForwarders{s: s, jobs: make(chan udpJob), quit: make(chan struct{})}
}

// stop ends the goroutines once their queries are done and waits for
// them. No start may come after it.
func (f *udpForwarders) stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	close(f.quit)
	f.running.Wait()
}

// forwardWire forwards the usual query in pkt, parsed as q, on the wire
// through up and reports whether it did; then the query's slot is
// released when its answer has been sent or its handover done.
func (f *udpForwarders) forwardWire(ctx context.Context, up wireUpstream, pkt []byte, q wireQuery, to replyTo) bool {
	x := &wireExchange{q: q, fwd: f, ctx: ctx}
	x.query = slices.Clone(pkt)
	x.q.question = x.query[headerLen : headerLen+len(q.question)]
	x.to = keepReply(to, &x.dgram)
	return up.exchangeWire(x)
}

// finishWire sends the answer to a query forwarded on the wire, or runs
// its handover on a forwarding goroutine.
func (f *udpForwarders) finishWire(x *wireExchange, ans []byte, h *handover) {
	ctx, to := x.ctx, x.to
	if h == nil {
		f.s.stats.forwarded.Add(1)
		if err := to.reply(ans); err != nil && ctx.Err() == nil {
			f.s.cfg.Logger.DebugContext(ctx, "dns: write udp answer", "err", err)
		}
		<-f.s.querySlots
		return
	}
	req := new(mdns.Msg)
	err := req.Unpack(x.query) // parseQuery read it: it unpacks
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil || f.stopped {
		h.sent.forget()
		<-f.s.querySlots
		return
	}
	f.start(ctx, udpJob{req: req, to: to, h: h})
}

// start forwards j on an idle goroutine, or a new one.
func (f *udpForwarders) start(ctx context.Context, j udpJob) {
	select {
	case f.jobs <- j:
	default:
		f.running.Add(1)
		go f.run(ctx, j)
	}
}

func (f *udpForwarders) run(ctx context.Context, j udpJob) {
	defer f.running.Done()
	buf := make([]byte, 0, serverUDPSize)
	idle := time.NewTimer(forwarderIdle)
	defer idle.Stop()
	for {
		qctx := ctx
		if j.h != nil {
			qctx = context.WithValue(ctx, handoverKey{}, j.h)
		}
		resp := f.s.forward(qctx, j.req)
		if j.h != nil {
			j.h.sent.forget() // if no Exchange took it
		}
		buf = f.s.writeUDP(ctx, j.to, j.req, resp, buf)
		<-f.s.querySlots
		idle.Reset(forwarderIdle)
		select {
		case j = <-f.jobs:
		case <-idle.C:
			return
		case <-f.quit:
			return
		}
	}
}

// writeUDP sends resp, the answer to req, packed into buf, and returns buf
// (grown if it had to be) for the next answer. A nil resp is not sent.
func (s *Server) writeUDP(ctx context.Context, to replyTo, req, resp *mdns.Msg, buf []byte) []byte {
	if resp == nil {
		return buf
	}
	b, err := pack(resp, req, clientUDPSize(req), buf)
	if err != nil {
		s.cfg.Logger.DebugContext(ctx, "dns: pack answer", "err", err)
		return buf
	}
	if err := to.reply(b); err != nil && ctx.Err() == nil {
		s.cfg.Logger.DebugContext(ctx, "dns: write udp answer", "err", err)
	}
	if cap(b) > cap(buf) && cap(b) <= mdns.MaxMsgSize {
		return b[:0]
	}
	return buf
}
