package dnstest

import (
	"context"
	"strings"
	"sync"

	mdns "github.com/miekg/dns"
)

// Upstream is a fake dns.Upstream holding a small zone: it answers the
// records added with AddRR, following CNAME chains as a recursive resolver
// does; NODATA for a known name of another type, and NXDOMAIN for an
// unknown name (a negative answer carries an added SOA of its zone). It records every query and is safe for
// concurrent use.
type Upstream struct {
	arrived chan *mdns.Msg // a copy of each query, dropped when full

	mu      sync.Mutex
	records []mdns.RR     // guarded by mu
	err     error         // guarded by mu; returned by Exchange when set
	hold    chan struct{} // guarded by mu; when set Exchange waits for it to close
	calls   []*mdns.Msg   // guarded by mu
}

// NewUpstream returns an Upstream with no records.
func NewUpstream() *Upstream {
	return &Upstream{arrived: make(chan *mdns.Msg, 64)}
}

// AddRR adds a record in zone-file syntax, e.g.
// "example.org. 60 IN A 192.0.2.1". It panics on a bad record: the record
// is part of the test.
func (u *Upstream) AddRR(s string) {
	rr, err := mdns.NewRR(s)
	if err != nil || rr == nil {
		panic("dnstest: bad record " + s)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.records = append(u.records, rr)
}

// Fail makes every later Exchange return err (nil undoes it).
func (u *Upstream) Fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.err = err
}

// Hold makes later Exchanges wait until release is called or their
// context ends. release is idempotent.
func (u *Upstream) Hold() (release func()) {
	ch := make(chan struct{})
	u.mu.Lock()
	u.hold = ch
	u.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			if u.hold == ch {
				u.hold = nil
			}
			u.mu.Unlock()
			close(ch)
		})
	}
}

// Arrived delivers a copy of each query as Exchange receives it, so a test
// can wait until a query is in flight.
func (u *Upstream) Arrived() <-chan *mdns.Msg { return u.arrived }

// Calls returns copies of the queries seen so far, oldest first.
func (u *Upstream) Calls() []*mdns.Msg {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]*mdns.Msg, len(u.calls))
	for i, m := range u.calls {
		out[i] = m.Copy()
	}
	return out
}

// Exchange implements dns.Upstream.
func (u *Upstream) Exchange(ctx context.Context, q *mdns.Msg) (*mdns.Msg, error) {
	u.mu.Lock()
	u.calls = append(u.calls, q.Copy())
	hold, err := u.hold, u.err
	u.mu.Unlock()
	select {
	case u.arrived <- q.Copy():
	default:
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}

	resp := new(mdns.Msg)
	resp.SetReply(q)
	resp.RecursionAvailable = true
	if opt := q.IsEdns0(); opt != nil {
		resp.SetEdns0(opt.UDPSize(), opt.Do())
	}
	if len(q.Question) == 0 {
		resp.Rcode = mdns.RcodeFormatError
		return resp, nil
	}
	qq := q.Question[0]
	known := false
	u.mu.Lock()
	defer u.mu.Unlock()
	// Follow CNAMEs as a recursive resolver does: the answer holds the
	// chain and the records at its end. maxChain bounds a loop.
	const maxChain = 8
	name := mdns.Fqdn(qq.Name)
	for range maxChain {
		next := ""
		for _, rr := range u.records {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			known = true
			switch {
			case h.Rrtype == qq.Qtype || qq.Qtype == mdns.TypeANY:
				resp.Answer = append(resp.Answer, mdns.Copy(rr))
			case h.Rrtype == mdns.TypeCNAME:
				resp.Answer = append(resp.Answer, mdns.Copy(rr))
				next = rr.(*mdns.CNAME).Target
			}
		}
		if next == "" {
			break
		}
		name = next
	}
	if !known {
		resp.Rcode = mdns.RcodeNameError
	}
	if len(resp.Answer) == 0 {
		// A negative answer carries the SOA of the zone holding the name,
		// if one was added, as a real server's does (RFC 2308).
		for _, rr := range u.records {
			if soa, ok := rr.(*mdns.SOA); ok && mdns.IsSubDomain(soa.Hdr.Name, mdns.Fqdn(qq.Name)) {
				resp.Ns = append(resp.Ns, mdns.Copy(soa))
			}
		}
	}
	return resp, nil
}
