package dns

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	mdns "github.com/miekg/dns"
)

const (
	// poolSockets is how many UDP sockets a pool keeps open to one server
	// for new queries: enough that one reader goroutine is never the
	// bottleneck, few enough that an idle VNet holds little.
	poolSockets = 4
	// socketUses is how many queries one socket carries before it is
	// retired (closed once its last answer is in) and a fresh one, on a
	// fresh random port, takes its place. A socket per query, as a stub
	// resolver does, costs a socket, a connect and a close per query;
	// keeping one forever would leave an off-path spoofer a fixed port to
	// aim at. See docs/decisions.md, "DNS levers".
	socketUses = 64
	// maxAnswerSize is the read buffer of a socket: the largest DNS
	// message, since an upstream may send more than we asked for.
	maxAnswerSize = mdns.MaxMsgSize
)

// readBufs holds the sockets' read buffers: a socket lives for
// socketUses queries, and a fresh 64 KiB buffer for each was a kilobyte
// of garbage per forwarded query.
var readBufs = sync.Pool{New: func() any { b := make([]byte, maxAnswerSize); return &b }}

// errPoolClosed is returned to queries when the Forwarder is closed.
var errPoolClosed = errors.New("dns: forwarder closed")

// udpPool sends queries to one server over a few connected UDP sockets it
// keeps open, and hands each answer to the query it belongs to by its ID
// and its question (CoreDNS plugin/forward keeps its sockets open the same
// way). Only answers from the server's address reach a connected socket.
// An answer that matches no query in flight (late, after its query gave
// up, or spoofed) is dropped and counted; so is one with the ID of a query
// in flight but another question, and that query keeps waiting for its
// real answer.
type udpPool struct {
	srv netip.AddrPort // never changes

	// dropped counts answers that matched no query in flight or the
	// wrong question.
	dropped atomic.Uint64
	// onWire counts the answers sent to the client by the socket's
	// reader (forward_wire.go), handedOver the queries forwarded on
	// the wire that went to an Exchange.
	onWire, handedOver atomic.Uint64

	mu     sync.Mutex
	socks  []*udpSock            // guarded by mu; take new queries; at most poolSockets
	open   map[*udpSock]struct{} // guarded by mu; every socket not closed yet, retired ones too
	next   int                   // guarded by mu; round robin over socks
	closed bool                  // guarded by mu
	reads  sync.WaitGroup        // one per socket's reader goroutine and per spare's dialer; Add only under mu while !closed
	// spare is a socket opened ahead, by a goroutine of its own when
	// the pool is short of one (a socket retired), which carries no
	// query yet: the next one to take a place in socks, so that no
	// query waits for a dial but the pool's very first. Guarded by mu.
	spare   *udpSock
	dialing bool // guarded by mu; the spare's dialer runs
	// ids are random bytes that IDs are taken from, two at a time
	// (idsUsed so far), refilled from crypto/rand: a read of crypto/rand
	// per query cost an allocation and a system call. Guarded by mu.
	ids     [256]byte
	idsUsed int

	deadlines wireDeadlines // of the queries forwarded on the wire
}

// udpSock is one connected socket of a pool and the queries waiting on it.
type udpSock struct {
	pool *udpPool     // never nil
	conn *net.UDPConn // never nil

	mu      sync.Mutex
	pending map[uint16]*udpWaiter // guarded by mu; by query ID
	sent    int                   // guarded by mu; queries sent so far
	retired bool                  // guarded by mu; takes no new query; closed when pending is empty
}

// udpWaiter is one query in flight: an Exchange's (done) or, until it is
// handed over to one, a query forwarded on the wire (wire; forward_wire.go).
// Its fields are guarded by its socket's mu once it is registered.
type udpWaiter struct {
	q    mdns.Question    // what the answer must be about
	tag  int              // handed back in the result
	done chan<- udpResult // gets exactly one result; has room for it
	wire *wireWait        // when not nil: q, tag and done are unused
}

// udpResult is the answer to, or the failure of, the query tagged tag.
type udpResult struct {
	tag  int
	resp *mdns.Msg
	err  error
}

// udpQuery is a query sent by a pool; forget it when its answer is no
// longer wanted.
type udpQuery struct {
	s  *udpSock
	id uint16
	w  *udpWaiter
}

// forget stops waiting for the answer, if it has not come.
func (q udpQuery) forget() { q.s.forget(q.id, q.w) }

func newUDPPool(srv netip.AddrPort) *udpPool {
	return &udpPool{srv: srv, open: map[*udpSock]struct{}{}}
}

// send sends the packed query wire about q, with the ID replaced by a
// fresh one (wire is modified). Its answer, or its failure, is sent to
// done with tag: done must have room for it. The caller must forget the
// query when it no longer waits for it.
func (p *udpPool) send(wire []byte, q mdns.Question, tag int, done chan<- udpResult) (udpQuery, error) {
	w := &udpWaiter{q: q, tag: tag, done: done}
	s, id, err := p.register(w)
	if err != nil {
		return udpQuery{}, err
	}
	sent := udpQuery{s: s, id: id, w: w}
	binary.BigEndian.PutUint16(wire, id)
	if _, err := s.conn.Write(wire); err != nil {
		sent.forget()
		return udpQuery{}, fmt.Errorf("write udp: %w", err)
	}
	return sent, nil
}

// register finds a socket for w and an ID free on it.
func (p *udpPool) register(w *udpWaiter) (*udpSock, uint16, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, 0, errPoolClosed
	}
	if len(p.socks) < poolSockets && p.spare != nil {
		p.socks = append(p.socks, p.spare)
		p.spare = nil
	}
	if len(p.socks) < poolSockets {
		// One short: while the spare's dialer opens the next, the
		// sockets there are take the queries; with none, this query
		// dials one.
		if len(p.socks) == 0 {
			s, err := p.dial()
			if err != nil {
				return nil, 0, err
			}
			p.socks = append(p.socks, s)
		}
		p.dialSpareLocked()
	}
	p.next = (p.next + 1) % len(p.socks)
	s := p.socks[p.next]
	s.mu.Lock()
	defer s.mu.Unlock()
	// A fresh random ID, as for a socket of its own: the answer is what
	// we hand on, so it must be hard to spoof. The loop ends: at most
	// MaxInFlight queries share a socket.
	id := p.randomIDLocked()
	for s.pending[id] != nil {
		id = p.randomIDLocked()
	}
	s.pending[id] = w
	s.sent++
	if s.sent >= socketUses {
		s.retired = true
		i := 0
		for i < len(p.socks) && p.socks[i] != s {
			i++
		}
		p.socks = append(p.socks[:i], p.socks[i+1:]...)
		p.dialSpareLocked()
	}
	return s, id, nil
}

// dialSpareLocked starts the spare's dialer unless there is a spare or
// it runs. Called with p.mu held, p not closed.
func (p *udpPool) dialSpareLocked() {
	if p.spare == nil && !p.dialing {
		p.dialing = true
		p.reads.Add(1)
		go p.dialSpare()
	}
}

// randomIDLocked is a random query ID from crypto/rand. Called with
// p.mu held.
func (p *udpPool) randomIDLocked() uint16 {
	if p.idsUsed == 0 || p.idsUsed >= len(p.ids) {
		rand.Read(p.ids[:]) // never fails: it crashes the program instead
		p.idsUsed = 0
	}
	id := binary.BigEndian.Uint16(p.ids[p.idsUsed:])
	p.idsUsed += 2
	return id
}

// dialSpare opens the next socket ahead (p.spare), off the path of the
// queries. Started with p.reads counting it.
func (p *udpPool) dialSpare() {
	defer p.reads.Done()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.srv))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dialing = false
	if err != nil {
		return // the next query that needs a socket dials it and fails if it still cannot
	}
	if p.closed || p.spare != nil {
		conn.Close()
		return
	}
	p.spare = p.start(conn)
}

// dial opens a socket on a fresh ephemeral port and starts its reader.
// Called with p.mu held.
func (p *udpPool) dial() (*udpSock, error) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.srv))
	if err != nil {
		return nil, fmt.Errorf("dial udp: %w", err)
	}
	return p.start(conn), nil
}

// start makes conn a socket of p and starts its reader. Called with p.mu
// held, p not closed.
func (p *udpPool) start(conn *net.UDPConn) *udpSock {
	s := &udpSock{pool: p, conn: conn, pending: map[uint16]*udpWaiter{}}
	p.open[s] = struct{}{}
	p.reads.Add(1)
	go s.read()
	return s
}

// read hands each answer that arrives on s to its query until s is closed.
// Any read error ends the socket, the pool dials a fresh one for the next
// query: an ICMP error (port unreachable: nothing listens there) comes
// back on the next read of a connected socket and is about the server,
// not one query, so every query waiting here fails now rather than at its
// timeout.
//
// It reads the answers waiting in batches (answer_batch.go).
func (s *udpSock) read() {
	defer s.pool.reads.Done()
	err := s.readBatches()
	s.pool.unlist(s)
	if !errors.Is(err, net.ErrClosed) {
		s.failAll(fmt.Errorf("read udp: %w", err))
	}
	s.conn.Close()
}

// readBatches delivers the answers that arrive on s until a read fails,
// and returns its error.
func (s *udpSock) readBatches() error {
	b, err := newAnswerBatch(s.conn)
	if err != nil {
		return err
	}
	defer b.close()
	each := func(pkt []byte, cut bool) {
		if cut {
			pkt = asTruncated(pkt)
		}
		s.deliver(pkt)
	}
	for {
		if err := b.read(each); err != nil {
			return err
		}
	}
}

// deliver hands pkt to the query it answers, or drops it.
func (s *udpSock) deliver(pkt []byte) {
	if len(pkt) < 2 {
		s.pool.dropped.Add(1)
		return
	}
	id := binary.BigEndian.Uint16(pkt)
	s.mu.Lock()
	w := s.pending[id]
	var ww *wireWait
	if w != nil {
		ww = w.wire
	}
	s.mu.Unlock()
	if w == nil {
		s.pool.dropped.Add(1) // late, or not ours
		return
	}
	if ww != nil && s.deliverWire(id, w, ww, pkt) {
		return
	}
	want := w.q
	if ww != nil {
		want = ww.x.question()
	}
	resp := new(mdns.Msg)
	if err := resp.Unpack(pkt); err != nil || checkQuestion(want, resp) != nil {
		// Not the answer to this query: keep waiting for it.
		s.pool.dropped.Add(1)
		return
	}
	if ww != nil {
		// On the wire until now: the Exchange it is handed to
		// reads this answer first.
		if h := s.handOver(id, w, &udpResult{resp: resp}); h != nil {
			ww.x.done(nil, h)
		}
		return
	}
	if s.forget(id, w) {
		w.done <- udpResult{tag: w.tag, resp: resp}
	}
}

// forget removes the query with id if it is still w and reports whether
// it was. A retired socket closes with its last query.
func (s *udpSock) forget(id uint16, w *udpWaiter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[id] != w {
		return false
	}
	s.removeLocked(id)
	return true
}

// removeLocked deletes the query with id; a retired socket closes with
// its last query. Called with s.mu held.
func (s *udpSock) removeLocked(id uint16) {
	delete(s.pending, id)
	if s.retired && len(s.pending) == 0 {
		s.conn.Close()
	}
}

// failAll fails every query waiting on s with err; those forwarded on the
// wire are handed over to an Exchange with err as their first result.
func (s *udpSock) failAll(err error) {
	var handed []*handover
	s.mu.Lock()
	s.retired = true
	for id, w := range s.pending {
		if w.wire != nil {
			if h := s.handOverLocked(id, w, &udpResult{err: err}); h != nil {
				handed = append(handed, h)
			}
			continue
		}
		delete(s.pending, id)
		w.done <- udpResult{tag: w.tag, err: err}
	}
	s.mu.Unlock()
	for _, h := range handed {
		h.x.done(nil, h)
	}
}

// unlist takes s out of the pool: no new query goes to it.
func (p *udpPool) unlist(s *udpSock) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.open, s)
	if p.spare == s {
		p.spare = nil
	}
	for i, o := range p.socks {
		if o == s {
			p.socks = append(p.socks[:i], p.socks[i+1:]...)
			break
		}
	}
}

// close closes every socket, which fails the queries in flight, and waits
// for the readers to end.
func (p *udpPool) close() {
	p.mu.Lock()
	p.closed = true
	for s := range p.open {
		s.failAll(errPoolClosed)
		s.conn.Close()
	}
	p.socks, p.spare = nil, nil
	p.mu.Unlock()
	p.reads.Wait()
	p.deadlines.stop()
}
