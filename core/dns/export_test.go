package dns

import (
	"context"
	"net"
	"time"

	mdns "github.com/miekg/dns"
)

// Hooks for the external tests.

// SocketUses is how many queries a pooled socket carries.
const SocketUses = socketUses

// SetForwarderClock makes f's health bookkeeping read the time from now.
func SetForwarderClock(f *Forwarder, now func() time.Time) {
	f.health.mu.Lock()
	defer f.health.mu.Unlock()
	f.health.now = now
}

// ForwarderDropped is how many answers f's sockets dropped: late, not
// ours, or to another question.
func ForwarderDropped(f *Forwarder) uint64 {
	var n uint64
	for _, p := range f.pools {
		n += p.dropped.Load()
	}
	return n
}

// ForwarderWire is how many of f's answers went to the client on the
// wire, and how many queries forwarded on the wire were handed over to
// an Exchange (forward_wire.go).
func ForwarderWire(f *Forwarder) (onWire, handedOver uint64) {
	for _, p := range f.pools {
		onWire += p.onWire.Load()
		handedOver += p.handedOver.Load()
	}
	return onWire, handedOver
}

// ReadAnswerAddrs is what the wire path reads from the answer pkt to a
// query whose question section is question: ok, and the data of every A
// and AAAA record.
func ReadAnswerAddrs(pkt, question []byte) (addrs [][]byte, ok bool) {
	_, ok = readAnswer(pkt, question, func(rdata []byte) { addrs = append(addrs, rdata) })
	return addrs, ok
}

// ForwarderDown reports which of f's servers are down now.
func ForwarderDown(f *Forwarder) []bool {
	h := f.health
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	out := make([]bool, len(h.downUntil))
	for i, t := range h.downUntil {
		out[i] = now.Before(t)
	}
	return out
}

// FastAnswer is the fast path's answer to the query in pkt (fastpath.go);
// ok is false when the fast path leaves pkt to the general one.
func FastAnswer(s *Server, pkt []byte) (b []byte, ok bool) {
	q, ok := parseQuery(pkt)
	if !ok {
		return nil, false
	}
	ans, own := s.cfg.Resolver.Resolve(context.Background(), q.name, q.qtype)
	if !own {
		return nil, false
	}
	return appendAnswer(nil, uint16(pkt[0])<<8|uint16(pkt[1]), q, ans)
}

// GeneralAnswer is the general path's answer to the query in pkt, as
// ServeUDP packs it, or nil when it is not answered locally (malformed,
// a response, or forwarded).
func GeneralAnswer(s *Server, pkt []byte) []byte {
	req := new(mdns.Msg)
	if err := req.Unpack(pkt); err != nil {
		return nil
	}
	resp, local := s.handleLocal(context.Background(), req)
	if !local || resp == nil {
		return nil
	}
	b, err := pack(resp, req, clientUDPSize(req), nil)
	if err != nil {
		return nil
	}
	return b
}

// ParseQuery reports whether the fast path reads pkt, and the name and
// type it would give the Resolver.
func ParseQuery(pkt []byte) (name string, qtype uint16, ok bool) {
	q, ok := parseQuery(pkt)
	return q.name, q.qtype, ok
}

// NormalizeName is the form names are given to the Resolver in.
func NormalizeName(name string) string { return normalizeName(name) }

// AnswerBatchSize and BatchSlotSize are a socket reader's batch: how many
// answers one read takes, and the buffer of every slot but the first.
const (
	AnswerBatchSize = answerBatchSize
	BatchSlotSize   = batchSlotSize
)

// ReadAnswerBatch is one read of a pool's socket reader on conn
// (answer_batch.go): each gets every answer it took.
func ReadAnswerBatch(conn *net.UDPConn, each func(pkt []byte, cut bool)) error {
	b, err := newAnswerBatch(conn)
	if err != nil {
		return err
	}
	defer b.close()
	return b.read(each)
}

// AsTruncated is what a socket reader makes of an answer the kernel cut.
func AsTruncated(pkt []byte) []byte { return asTruncated(pkt) }
