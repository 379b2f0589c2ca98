package dns

import (
	"context"
	"net"
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
)

// serverUDPSize is the EDNS0 buffer size we advertise in our own answers
// (DNS Flag Day 2020).
const serverUDPSize = 1232

// Handle answers one query: from the Resolver when the name is VNet's,
// from the Upstream otherwise. It returns nil when req must not be answered
// at all (it is itself a response). Handle is what ServeUDP and ServeTCP
// call; the caller truncates the answer to its transport.
func (s *Server) Handle(ctx context.Context, req *mdns.Msg) *mdns.Msg {
	if resp, local := s.handleLocal(ctx, req); local {
		return resp
	}
	return s.forward(ctx, req)
}

// handleLocal answers req when that needs no upstream: local=false means
// req must be forwarded. It does not block, so ServeUDP runs it on the
// goroutine that read the query.
func (s *Server) handleLocal(ctx context.Context, req *mdns.Msg) (resp *mdns.Msg, local bool) {
	if req == nil || req.Response {
		// Answering a response could start a loop between two servers.
		return nil, true
	}
	s.stats.queries.Add(1)
	if req.Opcode != mdns.OpcodeQuery {
		return reply(req, mdns.RcodeNotImplemented), true
	}
	if len(req.Question) != 1 {
		// RFC 9619: QDCOUNT must be 1 for QUERY.
		return reply(req, mdns.RcodeFormatError), true
	}
	switch n := countOPT(req); {
	case n > 1:
		// RFC 6891 section 6.1.1. No OPT in the answer: we cannot
		// tell which one the client meant.
		m := new(mdns.Msg)
		m.SetRcode(req, mdns.RcodeFormatError)
		m.RecursionAvailable = true
		return m, true
	case n == 1 && req.IsEdns0().Version() != 0:
		// RFC 6891 section 6.1.3.
		return reply(req, mdns.RcodeBadVers), true
	}
	q := req.Question[0]
	ans, ok := s.cfg.Resolver.Resolve(ctx, normalizeName(q.Name), q.Qtype)
	if !ok {
		return nil, false
	}
	s.stats.answered.Add(1)
	return answer(req, ans), true
}

// normalizeName is the form names are given to the Resolver in.
func normalizeName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// forward asks the Upstream, within QueryTimeout.
func (s *Server) forward(ctx context.Context, req *mdns.Msg) *mdns.Msg {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	resp, err := s.cfg.Upstream.Exchange(ctx, req)
	if err != nil || resp == nil {
		s.stats.failed.Add(1)
		q := req.Question[0]
		s.cfg.Logger.DebugContext(ctx, "dns: forward failed",
			"name", q.Name, "type", mdns.TypeToString[q.Qtype], "err", err)
		return reply(req, mdns.RcodeServerFailure)
	}
	s.stats.forwarded.Add(1)
	resp.Id = req.Id
	return resp
}

// answer builds the authoritative answer for a name VNet owns. Types
// other than A, AAAA and ANY, and classes other than IN and ANY, get NODATA.
func answer(req *mdns.Msg, ans Answer) *mdns.Msg {
	m := reply(req, mdns.RcodeSuccess)
	m.Authoritative = true
	q := req.Question[0]
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		return m
	}
	for _, a := range ans.Addrs {
		if rr := addrRR(q, a, ans.TTL); rr != nil {
			m.Answer = append(m.Answer, rr)
		}
	}
	if len(m.Answer) == 0 && ans.Zone != "" {
		m.Ns = append(m.Ns, soa(ans.Zone, ans.TTL))
	}
	return m
}

// soa is the start of authority VNet claims for a zone it answers in. Its
// minimum, and its own TTL, bound how long a negative answer is cached.
func soa(zone string, ttl uint32) *mdns.SOA {
	return &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: mdns.Fqdn(zone), Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: ttl},
		Ns:      "vnet.invalid.",
		Mbox:    "hostmaster.vnet.invalid.",
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  ttl,
	}
}

// addrRR returns the record for a that answers q, or nil if a is not of
// the family q asks for. The owner name keeps the question's casing.
func addrRR(q mdns.Question, a netip.Addr, ttl uint32) mdns.RR {
	hdr := mdns.RR_Header{Name: mdns.Fqdn(q.Name), Class: mdns.ClassINET, Ttl: ttl}
	wantA := q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY
	wantAAAA := q.Qtype == mdns.TypeAAAA || q.Qtype == mdns.TypeANY
	switch {
	case wantA && a.Unmap().Is4():
		hdr.Rrtype = mdns.TypeA
		return &mdns.A{Hdr: hdr, A: net.IP(a.Unmap().AsSlice())}
	case wantAAAA && a.Is6() && !a.Is4In6():
		hdr.Rrtype = mdns.TypeAAAA
		return &mdns.AAAA{Hdr: hdr, AAAA: net.IP(a.AsSlice())}
	}
	return nil
}

// reply starts an answer to req with rcode, echoing EDNS0 when the client
// used it (RFC 6891 section 7), including the DO bit (RFC 3225 section 3).
func reply(req *mdns.Msg, rcode int) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = true
	if len(m.Question) == 1 {
		// Only a caller of Handle can send a relative name; the wire
		// cannot carry one.
		m.Question[0].Name = mdns.Fqdn(m.Question[0].Name)
	}
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(serverUDPSize, opt.Do())
	}
	return m
}

func countOPT(m *mdns.Msg) int {
	n := 0
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == mdns.TypeOPT {
			n++
		}
	}
	return n
}

// clientUDPSize is the largest UDP answer the client of req can take
// (RFC 6891 section 6.2.5: sizes below 512 count as 512).
func clientUDPSize(req *mdns.Msg) int {
	if opt := req.IsEdns0(); opt != nil {
		return max(int(opt.UDPSize()), mdns.MinMsgSize)
	}
	return mdns.MinMsgSize
}

// pack packs resp into buf (grown as needed) to fit in limit bytes,
// setting TC when records had to go. If resp cannot be packed the client
// gets SERVFAIL instead.
func pack(resp, req *mdns.Msg, limit int, buf []byte) ([]byte, error) {
	resp.Truncate(limit)
	// Truncate turns compression off when the message fits without it;
	// compression never makes a message longer, and it saves bytes.
	resp.Compress = true
	b, err := resp.PackBuffer(buf)
	if err == nil {
		return b, nil
	}
	return reply(req, mdns.RcodeServerFailure).PackBuffer(buf)
}
