package dns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Upstream forwards a query to the resolvers the OS used before VNet started.
type Upstream interface {
	// Exchange returns the upstream's response to q, with q's ID. It must
	// not modify q, must return within a bounded time and must be safe for
	// concurrent use.
	Exchange(ctx context.Context, q *mdns.Msg) (*mdns.Msg, error)
}

// UpstreamFunc adapts a function to an Upstream.
type UpstreamFunc func(ctx context.Context, q *mdns.Msg) (*mdns.Msg, error)

// Exchange calls f.
func (f UpstreamFunc) Exchange(ctx context.Context, q *mdns.Msg) (*mdns.Msg, error) {
	return f(ctx, q)
}

const (
	// DefaultForwardTimeout bounds one forwarded query, all servers and
	// retries included.
	DefaultForwardTimeout = 2 * time.Second
	// forwardUDPSize is the EDNS0 buffer asked of upstreams when the client
	// did not ask for one: the DNS Flag Day 2020 size, which avoids IP
	// fragmentation on ordinary paths.
	forwardUDPSize = 1232
)

// Forwarder is an Upstream that sends queries to DNS servers over UDP,
// retrying over TCP when an answer is truncated. It is safe for concurrent
// use and holds no state between queries.
type Forwarder struct {
	servers []netip.AddrPort // never empty; tried in order
	timeout time.Duration    // > 0; bounds a whole Exchange
}

// NewForwarder returns a Forwarder to servers, tried in order. timeout
// bounds each Exchange as a whole; 0 means DefaultForwardTimeout.
func NewForwarder(servers []netip.AddrPort, timeout time.Duration) (*Forwarder, error) {
	if len(servers) == 0 {
		return nil, ErrNoUpstream
	}
	for _, s := range servers {
		if !s.IsValid() || s.Port() == 0 {
			return nil, fmt.Errorf("dns: invalid upstream server %q", s)
		}
	}
	if timeout <= 0 {
		timeout = DefaultForwardTimeout
	}
	return &Forwarder{servers: slices.Clone(servers), timeout: timeout}, nil
}

// Servers returns the servers the Forwarder uses, in order.
func (f *Forwarder) Servers() []netip.AddrPort { return slices.Clone(f.servers) }

// Exchange sends q to the servers in order until one gives a usable answer.
// A server that fails, times out, or answers SERVFAIL, REFUSED or NOTIMP
// makes it try the next one; each server gets an equal share of what is
// left of the timeout, so a dead first server cannot starve the others.
// If every server answered with one of those codes, the last answer is
// returned; if none answered, an error.
func (f *Forwarder) Exchange(ctx context.Context, q *mdns.Msg) (*mdns.Msg, error) {
	if len(q.Question) == 0 {
		return nil, errors.New("dns: forward: query has no question")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	// A fresh random ID: the client's may be predictable, and the upstream
	// answer is what we hand on, so it must be hard to spoof.
	out := q.Copy()
	out.Id = mdns.Id()
	addedOPT := false
	if out.IsEdns0() == nil {
		out.SetEdns0(forwardUDPSize, false)
		addedOPT = true
	}

	var (
		last *mdns.Msg
		errs []error
	)
	for i, srv := range f.servers {
		if ctx.Err() != nil {
			break
		}
		resp, err := f.tryServer(ctx, out, srv, addedOPT, len(f.servers)-i)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", srv, err))
			continue
		}
		switch resp.Rcode {
		case mdns.RcodeServerFailure, mdns.RcodeRefused, mdns.RcodeNotImplemented:
			last = resp
			continue
		}
		return finishResponse(resp, q, addedOPT), nil
	}
	if last != nil {
		return finishResponse(last, q, addedOPT), nil
	}
	if len(errs) == 0 {
		errs = append(errs, ctx.Err())
	}
	return nil, fmt.Errorf("dns: forward %s: %w", q.Question[0].Name, errors.Join(errs...))
}

// tryServer asks one server, within its share of the remaining time.
func (f *Forwarder) tryServer(ctx context.Context, out *mdns.Msg, srv netip.AddrPort, addedOPT bool, left int) (*mdns.Msg, error) {
	if deadline, ok := ctx.Deadline(); ok {
		share := time.Until(deadline) / time.Duration(left)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, share)
		defer cancel()
	}
	resp, err := exchangeUDPThenTCP(ctx, out, srv)
	if err != nil {
		return nil, err
	}
	// RFC 6891 section 7: a server that does not know EDNS may answer
	// FORMERR without an OPT; ask again the way the client asked.
	if addedOPT && resp.Rcode == mdns.RcodeFormatError && resp.IsEdns0() == nil {
		plain := out.Copy()
		removeOPT(plain)
		return exchangeUDPThenTCP(ctx, plain, srv)
	}
	return resp, nil
}

// exchangeUDPThenTCP asks over UDP and, when the answer is truncated, again
// over TCP. If TCP fails the truncated answer is returned: the client may
// still retry over TCP itself.
func exchangeUDPThenTCP(ctx context.Context, q *mdns.Msg, srv netip.AddrPort) (*mdns.Msg, error) {
	resp, err := exchangeOnce(ctx, "udp", q, srv)
	if err != nil || !resp.Truncated {
		return resp, err
	}
	if full, err := exchangeOnce(ctx, "tcp", q, srv); err == nil {
		return full, nil
	}
	return resp, nil
}

func exchangeOnce(ctx context.Context, network string, q *mdns.Msg, srv netip.AddrPort) (*mdns.Msg, error) {
	c := &mdns.Client{Net: network, UDPSize: forwardUDPSize}
	conn, err := c.DialContext(ctx, srv.String())
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", network, err)
	}
	defer conn.Close()
	// miekg/dns only takes the context's deadline; closing the conn makes a
	// cancellation (Server.Close) end the exchange at once too.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	resp, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	if err != nil {
		return nil, fmt.Errorf("exchange over %s: %w", network, err)
	}
	if err := checkQuestion(q, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// checkQuestion rejects an answer to another question: with the ID that is
// the last defence against a spoofed or confused reply. Some servers leave
// the question out of error answers, which is allowed.
func checkQuestion(q, resp *mdns.Msg) error {
	if len(resp.Question) == 0 {
		if resp.Rcode == mdns.RcodeSuccess {
			return errors.New("answer without question")
		}
		return nil
	}
	want, got := q.Question[0], resp.Question[0]
	if len(resp.Question) != 1 || got.Qtype != want.Qtype || got.Qclass != want.Qclass ||
		!strings.EqualFold(got.Name, want.Name) {
		return fmt.Errorf("answer to another question: %s", got.String())
	}
	return nil
}

// finishResponse makes resp an answer to the client's own query q.
func finishResponse(resp, q *mdns.Msg, addedOPT bool) *mdns.Msg {
	resp.Id = q.Id
	if addedOPT {
		// RFC 6891 section 7: no OPT in an answer to a query without one.
		removeOPT(resp)
		if resp.Rcode > 0xF {
			// An extended rcode cannot be told without an OPT.
			resp.Rcode = mdns.RcodeServerFailure
		}
	}
	return resp
}

func removeOPT(m *mdns.Msg) {
	m.Extra = slices.DeleteFunc(m.Extra, func(rr mdns.RR) bool {
		return rr.Header().Rrtype == mdns.TypeOPT
	})
}
