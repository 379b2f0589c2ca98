package dns

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Forwarding on the wire (issue 12): the usual query (parseQuery's) for a
// name that is not VNet's is sent upstream as it came, with a fresh ID and
// an OPT record added as Exchange adds one, by the goroutine that read it;
// the goroutine that reads the upstream's socket checks the answer (the ID
// and the question, the framing of every record, the rebinding guard's
// rule) and sends it to the client: no goroutine waits per query, nothing
// is unpacked or packed. The usual answer only: anything else (an error
// rcode that makes Exchange ask another server, a truncated answer, one
// the rebinding guard would change, one too long for the client, an
// extended rcode, a missing answer when the next server is due) hands the
// query, as sent and with the answer that came, to the general path's
// Exchange (handover), which goes on from there as if it had sent it: the
// rules, the stagger, health and timeouts stay Exchange's own.

// wireUpstream is an Upstream that can also forward a query on the wire.
// The chain the engine builds (NegativeCache, RebindGuard, Forwarder)
// implements it; an Upstream that does not gets every query the general
// way.
type wireUpstream interface {
	// exchangeWire sends x's query upstream and reports whether it did;
	// when it did, x.done is called exactly once, later, on any
	// goroutine. When it did not, the query takes the general path.
	exchangeWire(x *wireExchange) bool
}

// wireExchange is a query forwarded on the wire. Everything the query
// needs until its answer is sent lives in this one allocation besides
// its copy of the query: where the answer goes, the Forwarder's wait and
// the pool's waiter (a dozen small allocations per query before).
type wireExchange struct {
	query []byte    // the client's query, the exchange's own copy
	q     wireQuery // parsed from query; q.question points into query
	// guard, when the chain has one, must find nothing to remove from
	// an answer that reaches the client unchanged; else it is handed
	// over.
	guard *RebindGuard
	// observe, when the chain is Timed, is told how long the answer
	// took when it reaches the client on the wire (a handover is timed
	// by Timed's Exchange).
	observe func(failed bool, d time.Duration)

	// fwd.finishWire gets the answer to send, with the client's ID
	// and valid only during the call, or the handover of the query to
	// an Exchange, which the Server then runs; ctx and to are the
	// query's.
	fwd *udpForwarders
	ctx context.Context
	to  replyTo

	wait   wireWait      // the Forwarder's, while the query waits on a socket
	waiter udpWaiter     // the pool's, which points at wait
	dgram  datagramReply // where to points for a Datagrams query (keepReply)
}

// done hands the answer, or the handover, to the Server.
func (x *wireExchange) done(ans []byte, h *handover) {
	if h == nil && x.observe != nil {
		x.observe(false, time.Since(x.wait.sentAt))
	}
	x.fwd.finishWire(x, ans, h)
}

// question is x's question as Exchange's waiters hold it.
func (x *wireExchange) question() mdns.Question {
	return mdns.Question{Name: x.q.name + ".", Qtype: x.q.qtype, Qclass: mdns.ClassINET}
}

// wireWait is the state of a query forwarded on the wire while it waits
// on a pool's socket (udpWaiter.wire).
type wireWait struct {
	x        *wireExchange
	f        *Forwarder
	order    []int           // health's plan at the send; order[0] was asked
	delay    []time.Duration // with it
	addedOPT bool            // the query sent carries an OPT the client's has not
	sentAt   time.Time
	deadline time.Time // when it is handed over if no answer came
	s        *udpSock  // where it waits
	id       uint16    // with this ID
	index    int       // in the pool's wireDeadlines; -1 when not there
}

// handover is a query forwarded on the wire, handed to an Exchange: it
// was sent to order[0] at sentAt, and its waiter now delivers to results
// like any of Exchange's, which may already hold the answer that made it
// go the general way.
type handover struct {
	x       *wireExchange
	f       *Forwarder
	order   []int
	delay   []time.Duration
	sent    udpQuery
	results chan udpResult // capacity as Exchange's
	sentAt  time.Time
	taken   atomic.Bool // an Exchange has taken it
}

// handoverKey is the context key under which the Server gives Exchange a
// handover.
type handoverKey struct{}

// handoverFrom is the handover in ctx meant for f, if any and not taken.
func handoverFrom(ctx context.Context, f *Forwarder) *handover {
	h, _ := ctx.Value(handoverKey{}).(*handover)
	if h == nil || h.f != f || !h.taken.CompareAndSwap(false, true) {
		return nil
	}
	return h
}

// exchangeWire: names in the cache's scope take the general path, which
// caches their negative answers.
func (c *NegativeCache) exchangeWire(x *wireExchange) bool {
	next, ok := c.next.(wireUpstream)
	return ok && !c.inScope(x.q.name) && next.exchangeWire(x)
}

// exchangeWire: an answer with an A or AAAA record pointing into VNet
// goes the general way, where Exchange removes it.
func (g *RebindGuard) exchangeWire(x *wireExchange) bool {
	next, ok := g.next.(wireUpstream)
	if !ok || x.guard != nil {
		return false
	}
	x.guard = g
	return next.exchangeWire(x)
}

// pointsIntoVNet reports whether rdata, an A or AAAA record's, is an
// address of VNet's.
func (g *RebindGuard) pointsIntoVNet(rdata []byte) bool {
	a, ok := netip.AddrFromSlice(rdata)
	return ok && g.isVNet(a.Unmap())
}

// optRecord is the OPT record Exchange adds to a query without one: the
// root, type OPT, forwardUDPSize, no extended rcode, version 0, no flags,
// no options.
var optRecord = []byte{0, 0, byte(mdns.TypeOPT), forwardUDPSize >> 8, forwardUDPSize & 0xff, 0, 0, 0, 0, 0, 0}

// exchangeWire sends x's query to the first server of health's plan.
func (f *Forwarder) exchangeWire(x *wireExchange) bool {
	order, delay := f.health.plan()
	buf := wireBufs.Get().(*[]byte)
	defer wireBufs.Put(buf)
	out := append((*buf)[:0], x.query...)
	if !x.q.edns {
		out = append(out, optRecord...)
		binary.BigEndian.PutUint16(out[offARCount:], 1)
	}
	*buf = out[:0]
	now := time.Now()
	// When Exchange would ask the next server, or give up.
	wait := f.timeout
	if len(order) > 1 {
		wait = min(wait, delay[1])
	}
	ww := &x.wait
	*ww = wireWait{x: x, f: f, order: order, delay: delay, addedOPT: !x.q.edns, sentAt: now, deadline: now.Add(wait), index: -1}
	return f.pools[order[0]].sendWire(out, ww)
}

// sendWire sends the query out (its ID is replaced) for ww.
func (p *udpPool) sendWire(out []byte, ww *wireWait) bool {
	w := &ww.x.waiter
	*w = udpWaiter{wire: ww}
	s, id, err := p.register(w)
	if err != nil {
		return false
	}
	ww.s, ww.id = s, id
	binary.BigEndian.PutUint16(out, id)
	p.deadlines.add(ww)
	if _, err := s.conn.Write(out); err != nil {
		// As if it had not been sent: the general path tries.
		p.deadlines.remove(ww)
		s.mu.Lock()
		sent := s.pending[id] == w && w.wire != nil
		if sent {
			s.removeLocked(id)
		}
		s.mu.Unlock()
		if !sent {
			// Handed over meanwhile (the pool closed): the
			// Exchange owns it now.
			return true
		}
		return false
	}
	return true
}

// deliverWire takes pkt, which has the ID of w, forwarded on the wire as
// ww: it sends the client the answer and reports true when the answer
// may go as it came, drops it and reports true when it is not an answer
// to the query (it keeps waiting), and reports false when miekg/dns must
// read it (the caller then hands it over, or drops it as Exchange would).
func (s *udpSock) deliverWire(id uint16, w *udpWaiter, ww *wireWait, pkt []byte) bool {
	x := ww.x
	// The guard, when the chain has one, in the same reading: it must
	// find nothing to remove from an answer that goes as it came.
	clean := true
	info, ok := readAnswer(pkt, x.q.question, func(rdata []byte) {
		if x.guard != nil && x.guard.pointsIntoVNet(rdata) {
			clean = false
		}
	})
	if !ok || !clean || info.tc || info.ext || isFailureRcode(info.rcode) || info.opts > 1 {
		return false
	}
	n := len(pkt)
	if ww.addedOPT {
		if info.rcode == mdns.RcodeFormatError && info.opts == 0 {
			return false // a server without EDNS: Exchange asks again without
		}
		if info.opts == 1 {
			if info.optLast == 0 {
				return false
			}
			// RFC 6891 section 7: no OPT in the answer to a
			// query without one.
			n = info.optLast
		}
	}
	if n > x.q.udpSize {
		return false // to be truncated
	}
	s.mu.Lock()
	mine := s.pending[id] == w && w.wire == ww
	if mine {
		s.removeLocked(id)
	}
	s.mu.Unlock()
	if !mine {
		return false // handed over meanwhile: its Exchange reads it
	}
	s.pool.deadlines.remove(ww)
	s.pool.onWire.Add(1)
	ww.f.health.answered(ww.order[0])
	if n < len(pkt) {
		pkt = pkt[:n]
		binary.BigEndian.PutUint16(pkt[offARCount:], binary.BigEndian.Uint16(pkt[offARCount:])-1)
	}
	binary.BigEndian.PutUint16(pkt, binary.BigEndian.Uint16(x.query))
	x.done(pkt, nil)
	return true
}

// isFailureRcode is isFailure on the wire.
func isFailureRcode(rcode int) bool {
	switch rcode {
	case mdns.RcodeServerFailure, mdns.RcodeRefused, mdns.RcodeNotImplemented:
		return true
	}
	return false
}

// handOver hands w, which has id, to an Exchange, with first as its first
// result when not nil. It returns nil when w has been answered or handed
// over already; a first result then goes where w now delivers, if it
// still waits.
func (s *udpSock) handOver(id uint16, w *udpWaiter, first *udpResult) *handover {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[id] != w {
		return nil
	}
	if w.wire == nil {
		if first != nil {
			s.removeLocked(id)
			w.done <- udpResult{tag: w.tag, resp: first.resp, err: first.err}
		}
		return nil
	}
	return s.handOverLocked(id, w, first)
}

// handOverLocked is handOver for a w still on the wire, with s.mu held.
func (s *udpSock) handOverLocked(id uint16, w *udpWaiter, first *udpResult) *handover {
	ww := w.wire
	s.pool.deadlines.remove(ww)
	s.pool.handedOver.Add(1)
	h := &handover{
		x: ww.x, f: ww.f, order: ww.order, delay: ww.delay,
		sent:    udpQuery{s: s, id: id, w: w},
		results: make(chan udpResult, 3*len(ww.order)),
		sentAt:  ww.sentAt,
	}
	w.wire = nil
	w.q = ww.x.question()
	w.tag = 0
	w.done = h.results
	if first != nil {
		s.removeLocked(id)
		h.results <- udpResult{resp: first.resp, err: first.err}
	}
	return h
}

// adopt makes x go on from h: the first server asked, its stagger and the
// timeout counted from when it was.
func (x *exchange) adopt(h *handover) {
	x.order, x.delay, x.results = h.order, h.delay, h.results
	x.atts = make([]attempt, len(x.order))
	x.atts[0].sent = []udpQuery{h.sent}
	x.started = 1
	x.since = h.sentAt
}
