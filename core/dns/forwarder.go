package dns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
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
// retrying over TCP when an answer is truncated. It keeps a few UDP
// sockets open per server (udpPool) and remembers which servers missed
// queries lately (health). It is safe for concurrent use; Close releases
// its sockets.
type Forwarder struct {
	servers []netip.AddrPort // never empty; in the configured order
	timeout time.Duration    // > 0; bounds a whole Exchange
	pools   []*udpPool       // by server index; never nil
	health  *health          // never nil
}

// NewForwarder returns a Forwarder to servers, preferred in that order.
// timeout bounds each Exchange as a whole; 0 means DefaultForwardTimeout.
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
	f := &Forwarder{servers: slices.Clone(servers), timeout: timeout, health: newHealth(len(servers))}
	for _, s := range servers {
		f.pools = append(f.pools, newUDPPool(s))
	}
	return f, nil
}

// Servers returns the servers the Forwarder uses, in order.
func (f *Forwarder) Servers() []netip.AddrPort { return slices.Clone(f.servers) }

// Close closes the Forwarder's sockets; queries in flight fail, and so do
// later ones. Close is idempotent.
func (f *Forwarder) Close() error {
	for _, p := range f.pools {
		p.close()
	}
	return nil
}

// Exchange asks the servers until one gives a usable answer. It asks the
// healthy servers first, in their configured order, the next one
// staggerHealthy after the previous one unless that one has answered; a
// server that fails, or answers SERVFAIL, REFUSED or NOTIMP, makes it ask
// the next one at once. Servers that are down come last, staggerDown
// apart, and are only asked when no healthy server gave an answer at all.
// The first usable answer wins. If every server asked answered with one of
// those codes, the last such answer is returned; if none answered, an
// error.
//
// One goroutine does it all: the pools deliver answers to a channel of
// this Exchange; only a retry over TCP runs beside it.
func (f *Forwarder) Exchange(ctx context.Context, q *mdns.Msg) (*mdns.Msg, error) {
	if len(q.Question) == 0 {
		return nil, errors.New("dns: forward: query has no question")
	}
	x := exchange{f: f, q: q}
	x.out = q.Copy()
	if x.out.IsEdns0() == nil {
		x.out.SetEdns0(forwardUDPSize, false)
		x.addedOPT = true
	}
	buf := wireBufs.Get().(*[]byte)
	defer wireBufs.Put(buf)
	wire, err := x.out.PackBuffer(*buf)
	if err != nil {
		return nil, fmt.Errorf("dns: forward %s: %w", q.Question[0].Name, err)
	}
	x.wire = wire
	if h := handoverFrom(ctx, f); h != nil {
		x.adopt(h) // forward_wire.go
	} else {
		x.order, x.delay = f.health.plan()
		n := len(x.order)
		// Room for every result there can be: per server one over
		// UDP, one without OPT and one over TCP.
		x.results = make(chan udpResult, 3*n)
		x.atts = make([]attempt, n)
	}
	defer x.end()
	return x.run(ctx)
}

// wireBufs holds buffers to pack queries into.
var wireBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// exchange is the state of one Exchange.
type exchange struct {
	f        *Forwarder
	q        *mdns.Msg // the client's query; not modified
	out      *mdns.Msg // what servers are asked: q with an OPT
	addedOPT bool      // out has an OPT that q has not
	wire     []byte    // out packed; the ID changes per send

	order   []int           // servers by index, in the order asked
	delay   []time.Duration // before each server in order is asked
	results chan udpResult  // tagged with the index in order
	atts    []attempt       // by index in order
	started int             // servers asked so far
	since   time.Time       // when the first was; zero: when run starts

	tcp       sync.WaitGroup // retries over TCP running
	tcpCtx    context.Context
	tcpCancel context.CancelFunc // nil until a retry over TCP starts
}

// attempt is one server's part of an Exchange.
type attempt struct {
	sent     []udpQuery // to forget at the end
	plain    *mdns.Msg  // the query without OPT, once sent (RFC 6891 section 7)
	triedTCP bool
	returned bool // has given its final answer or failure
}

func (x *exchange) run(ctx context.Context) (*mdns.Msg, error) {
	n := len(x.order)
	// A handed-over query (forward_wire.go) counts from its send.
	var elapsed time.Duration
	if !x.since.IsZero() {
		elapsed = time.Since(x.since)
	}
	timeout := time.NewTimer(x.f.timeout - elapsed)
	defer timeout.Stop()
	var stagger <-chan time.Time
	var staggerTimer *time.Timer
	// waitNext sets the stagger for the next server, less what has
	// passed since the last was asked.
	waitNext := func(passed time.Duration) {
		if x.started == n {
			stagger = nil
			return
		}
		d := x.delay[x.started] - passed
		if staggerTimer == nil {
			staggerTimer = time.NewTimer(d)
		} else {
			staggerTimer.Reset(d)
		}
		stagger = staggerTimer.C
	}
	startNext := func() {
		x.start()
		waitNext(0)
	}
	defer func() {
		if staggerTimer != nil {
			staggerTimer.Stop()
		}
	}()
	if x.started == 0 {
		startNext()
	} else {
		waitNext(elapsed)
	}

	var (
		last   *mdns.Msg
		errs   []error
		doneBy error // what ended the wait, if not an answer
	)
	allReturned := func() bool {
		for k := range x.started {
			if !x.atts[k].returned {
				return false
			}
		}
		return true
	}
	for doneBy == nil {
		select {
		case <-stagger:
			startNext()
			continue
		case <-ctx.Done():
			doneBy = ctx.Err()
			if !errors.Is(doneBy, context.Canceled) {
				x.missUnreturned(x.started)
			}
			continue
		case <-timeout.C:
			doneBy = context.DeadlineExceeded
			x.missUnreturned(x.started)
			continue
		case r := <-x.results:
			k, i := r.tag, x.order[r.tag]
			if r.err == nil && x.retry(k, r.resp) {
				continue
			}
			x.atts[k].returned = true
			if r.err != nil {
				x.f.health.missed(i)
				errs = append(errs, fmt.Errorf("%s: %w", x.f.servers[i], r.err))
				if x.started < n {
					startNext()
					continue
				}
			} else {
				x.f.health.answered(i)
				if !isFailure(r.resp) {
					// Servers asked before this one had longer
					// and did not answer.
					x.missUnreturned(k)
					return finishResponse(r.resp, x.q, x.addedOPT), nil
				}
				last = r.resp
				if x.started < n && x.delay[x.started] == staggerHealthy {
					startNext()
					continue
				}
			}
			if allReturned() && (last != nil || x.started == n) {
				doneBy = errNoAnswer
			}
		}
	}
	if last != nil {
		return finishResponse(last, x.q, x.addedOPT), nil
	}
	if len(errs) == 0 {
		errs = append(errs, doneBy)
	}
	return nil, fmt.Errorf("dns: forward %s: %w", x.q.Question[0].Name, errors.Join(errs...))
}

// errNoAnswer ends an Exchange whose servers have all failed.
var errNoAnswer = errors.New("no usable answer")

// start asks the next server in order.
func (x *exchange) start() {
	k := x.started
	x.started++
	x.sendUDP(k, x.wire, x.out.Question[0])
}

// sendUDP sends wire to the k-th server in order; a failure to send is
// its result.
func (x *exchange) sendUDP(k int, wire []byte, q mdns.Question) {
	sent, err := x.f.pools[x.order[k]].send(wire, q, k, x.results)
	if err != nil {
		x.results <- udpResult{tag: k, err: err}
		return
	}
	x.atts[k].sent = append(x.atts[k].sent, sent)
}

// retry asks the k-th server again when resp calls for it: over TCP when
// resp is truncated (if TCP fails the truncated answer stands: the client
// may still retry over TCP itself), without OPT when resp is a FORMERR
// without OPT to the OPT we added (RFC 6891 section 7: a server that does
// not know EDNS; we ask the way the client asked). It reports whether it
// did: the retry's result comes later.
func (x *exchange) retry(k int, resp *mdns.Msg) bool {
	a := &x.atts[k]
	if x.addedOPT && a.plain == nil && resp.Rcode == mdns.RcodeFormatError && resp.IsEdns0() == nil {
		a.plain = x.out.Copy()
		removeOPT(a.plain)
		wire, err := a.plain.Pack()
		if err != nil {
			x.results <- udpResult{tag: k, err: err}
			return true
		}
		x.sendUDP(k, wire, a.plain.Question[0])
		return true
	}
	if !resp.Truncated || a.triedTCP {
		return false
	}
	a.triedTCP = true
	m := x.out
	if a.plain != nil {
		m = a.plain
	}
	if x.tcpCancel == nil {
		x.tcpCtx, x.tcpCancel = context.WithCancel(context.Background())
	}
	x.tcp.Add(1)
	go func() {
		defer x.tcp.Done()
		full, err := exchangeTCP(x.tcpCtx, m, x.f.servers[x.order[k]])
		if err != nil {
			full = resp
		}
		x.results <- udpResult{tag: k, resp: full}
	}()
	return true
}

// missUnreturned marks the servers asked before the k-th in order that
// have not answered as having missed the query.
func (x *exchange) missUnreturned(k int) {
	for j := range k {
		if !x.atts[j].returned {
			x.f.health.missed(x.order[j])
		}
	}
}

// end forgets the queries still in flight and stops the TCP retries.
func (x *exchange) end() {
	for _, a := range x.atts {
		for _, s := range a.sent {
			s.forget()
		}
	}
	if x.tcpCancel != nil {
		x.tcpCancel()
		x.tcp.Wait()
	}
}

// isFailure reports whether resp says the server could not answer, which
// makes the Forwarder ask another one.
func isFailure(resp *mdns.Msg) bool {
	switch resp.Rcode {
	case mdns.RcodeServerFailure, mdns.RcodeRefused, mdns.RcodeNotImplemented:
		return true
	}
	return false
}

// exchangeTCP asks srv q over a TCP connection of its own.
func exchangeTCP(ctx context.Context, q *mdns.Msg, srv netip.AddrPort) (*mdns.Msg, error) {
	c := &mdns.Client{Net: "tcp"}
	conn, err := c.DialContext(ctx, srv.String())
	if err != nil {
		return nil, fmt.Errorf("dial tcp: %w", err)
	}
	defer conn.Close()
	// miekg/dns only takes the context's deadline; closing the conn makes a
	// cancellation (Server.Close) end the exchange at once too.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	// A fresh random ID, as over UDP; miekg/dns checks the answer's.
	m := q.Copy()
	m.Id = mdns.Id()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil {
		return nil, fmt.Errorf("exchange over tcp: %w", err)
	}
	if err := checkQuestion(q.Question[0], resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// checkQuestion rejects an answer to another question: with the ID that is
// the last defence against a spoofed or confused reply. Some servers leave
// the question out of error answers, which is allowed.
func checkQuestion(want mdns.Question, resp *mdns.Msg) error {
	if len(resp.Question) == 0 {
		if resp.Rcode == mdns.RcodeSuccess {
			return errors.New("answer without question")
		}
		return nil
	}
	got := resp.Question[0]
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
