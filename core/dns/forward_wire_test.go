package dns_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/dns/dnstest"
)

// serveUDPWith runs a Server with r (nil: no names of its own) and up
// over loopback UDP and returns its address. Cleanup closes it and checks
// that ServeUDP returned nil.
func serveUDPWith(t *testing.T, r dns.Resolver, up dns.Upstream) (string, *dns.Server) {
	t.Helper()
	if r == nil {
		r = dnstest.NewResolver()
	}
	srv, err := dns.NewServer(dns.Config{Resolver: r, Upstream: up})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeUDP(context.Background(), pc) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("ServeUDP = %v", err)
		}
	})
	return pc.LocalAddr().String(), srv
}

// withID is q with ID id.
func withID(q *mdns.Msg, id uint16) *mdns.Msg {
	q.Id = id
	return q
}

func TestForwardWireAnswers(t *testing.T) {
	checkGoroutines(t)
	var (
		mu   sync.Mutex
		sent []*mdns.Msg // what the upstream received
	)
	up := startRawUpstream(t, func(u *rawUpstream, q *mdns.Msg, from net.Addr) {
		mu.Lock()
		sent = append(sent, q)
		mu.Unlock()
		m := aAnswer(q, q.Question[0].Name, "192.0.2.7")
		if opt := q.IsEdns0(); opt != nil {
			m.SetEdns0(opt.UDPSize(), opt.Do())
		}
		u.send(t, m, from)
	})
	f := newForwarder(t, waitTimeout, up.addr())
	addr, _ := serveUDPWith(t, nil, f)

	resp := exchange(t, "udp", addr, withID(query("Plain.Example.", mdns.TypeA), 4242))
	if resp.Id != 4242 || len(resp.Answer) != 1 || resp.Answer[0].(*mdns.A).A.String() != "192.0.2.7" {
		t.Errorf("answer = %v, want the upstream's with the client's ID", resp)
	}
	if resp.IsEdns0() != nil {
		t.Error("the answer to a query without OPT carries one")
	}
	q := query("edns.example.", mdns.TypeAAAA)
	q.SetEdns0(4096, true)
	resp = exchange(t, "udp", addr, q)
	if opt := resp.IsEdns0(); opt == nil || !opt.Do() {
		t.Errorf("the answer to a query with OPT and DO has OPT %v", opt)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 2 {
		t.Fatalf("upstream got %d queries, want 2", len(sent))
	}
	if opt := sent[0].IsEdns0(); opt == nil || opt.UDPSize() != 1232 || sent[0].Id == 4242 {
		t.Errorf("the first query went upstream as %v: want an OPT of 1232 bytes and a fresh ID", sent[0])
	}
	if opt := sent[1].IsEdns0(); opt == nil || opt.UDPSize() != 4096 || !opt.Do() {
		t.Errorf("the client's OPT went upstream as %v", opt)
	}
	if onWire, handed := dns.ForwarderWire(f); onWire != 2 || handed != 0 {
		t.Errorf("%d answers on the wire, %d handed over; want 2 and 0", onWire, handed)
	}
}

// TestForwardWireMatchesGeneralPath compares the client's answer
// forwarded on the wire with the general path's (the same Forwarder
// behind an Upstream that is only an Upstream) for answers of each kind.
func TestForwardWireMatchesGeneralPath(t *testing.T) {
	checkGoroutines(t)
	answers := map[string][]string{
		"a.example.":     {"a.example. 60 IN A 192.0.2.1", "a.example. 60 IN A 192.0.2.2"},
		"cname.example.": {"cname.example. 30 IN CNAME a.example.", "a.example. 60 IN A 192.0.2.1"},
		"v6.example.":    {"v6.example. 60 IN AAAA 2001:db8::1"},
		"mx.example.":    {"mx.example. 60 IN MX 10 mail.example."},
	}
	up := startUpstream(t, func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		m.RecursionAvailable = true
		name := q.Question[0].Name
		for _, s := range answers[mdns.CanonicalName(name)] {
			rr, _ := mdns.NewRR(s)
			m.Answer = append(m.Answer, rr)
		}
		if _, ok := answers[mdns.CanonicalName(name)]; !ok {
			m.Rcode = mdns.RcodeNameError
			soa, _ := mdns.NewRR("example. 60 IN SOA ns.example. host.example. 1 2 3 4 30")
			m.Ns = append(m.Ns, soa)
		}
		if opt := q.IsEdns0(); opt != nil {
			m.SetEdns0(opt.UDPSize(), opt.Do())
		}
		w.WriteMsg(m)
	})
	f := newForwarder(t, waitTimeout, up)
	wireAddr, _ := serveUDPWith(t, nil, f)
	generalAddr, _ := serveUDPWith(t, nil, dns.UpstreamFunc(f.Exchange))
	for _, name := range []string{"a.example.", "A.Example.", "cname.example.", "v6.example.", "nx.example."} {
		for _, edns := range []bool{false, true} {
			for _, qtype := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
				t.Run(fmt.Sprintf("%s/%s/edns=%v", name, mdns.TypeToString[qtype], edns), func(t *testing.T) {
					q := withID(query(name, qtype), 77)
					if edns {
						q.SetEdns0(1400, false)
					}
					onWire, _ := dns.ForwarderWire(f)
					wire := exchange(t, "udp", wireAddr, q.Copy())
					if after, _ := dns.ForwarderWire(f); after != onWire+1 {
						t.Errorf("the answer did not go on the wire")
					}
					general := exchange(t, "udp", generalAddr, q.Copy())
					if wire.String() != general.String() {
						t.Errorf("on the wire:\n%v\ngeneral path:\n%v", wire, general)
					}
				})
			}
		}
	}
}

func TestForwardWireDropsBadAnswers(t *testing.T) {
	checkGoroutines(t)
	// Before the real answer the upstream sends what is not it: each is
	// dropped and the query keeps waiting.
	up := startRawUpstream(t, func(u *rawUpstream, q *mdns.Msg, from net.Addr) {
		good, _ := aAnswer(q, q.Question[0].Name, "192.0.2.9").Pack()
		id := good[:2]
		wrongID := aAnswer(q, q.Question[0].Name, "198.51.100.66")
		wrongID.Id = q.Id + 1
		u.send(t, wrongID, from)
		u.send(t, aAnswer(q, "evil.example.", "198.51.100.66"), from)
		otherType := aAnswer(q, q.Question[0].Name, "198.51.100.66")
		otherType.Question[0].Qtype = mdns.TypeMX
		u.send(t, otherType, from)
		for _, bad := range [][]byte{
			id, // the ID alone
			append(append([]byte{}, id...), "\x81\x80 garbage after the ID"...),
			good[:len(good)-1], // the record cut short
		} {
			u.pc.WriteTo(bad, from)
		}
		// A compression pointer that points forward.
		fwdPtr := append([]byte{}, good...)
		fwdPtr[len(good)-16], fwdPtr[len(good)-15] = 0xc0, byte(len(good)-2)
		u.pc.WriteTo(fwdPtr, from)
		u.pc.WriteTo(good, from)
	})
	f := newForwarder(t, waitTimeout, up.addr())
	addr, _ := serveUDPWith(t, nil, f)
	resp := exchange(t, "udp", addr, query("good.example.", mdns.TypeA))
	if len(resp.Answer) != 1 || resp.Answer[0].(*mdns.A).A.String() != "192.0.2.9" {
		t.Errorf("answer = %v, want the real one", resp.Answer)
	}
	if got := dns.ForwarderDropped(f); got != 7 {
		t.Errorf("dropped %d answers, want 7", got)
	}
	if onWire, handed := dns.ForwarderWire(f); onWire != 1 || handed != 0 {
		t.Errorf("%d answers on the wire, %d handed over; want 1 and 0", onWire, handed)
	}
}

// TestForwardWireHandsOver: an answer that is not the usual one goes to
// Exchange, which does what it always did.
func TestForwardWireHandsOver(t *testing.T) {
	many := func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		for i := range 60 {
			rr, _ := mdns.NewRR(fmt.Sprintf("%s 60 IN A 192.0.2.%d", q.Question[0].Name, i))
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	}
	tests := []struct {
		name    string
		servers func(t *testing.T) []netip.AddrPort
		check   func(t *testing.T, resp *mdns.Msg)
	}{
		{
			name: "SERVFAIL, then the next server",
			servers: func(t *testing.T) []netip.AddrPort {
				return []netip.AddrPort{startRawUpstream(t, servfailing).addr(), startUpstream(t, answerA("192.0.2.5"))}
			},
			check: wantA("192.0.2.5"),
		},
		{
			name: "truncated: asked again over TCP",
			servers: func(t *testing.T) []netip.AddrPort {
				return []netip.AddrPort{startUpstream(t, func(w mdns.ResponseWriter, q *mdns.Msg) {
					if isTCP(w) {
						answerA("192.0.2.6")(w, q)
						return
					}
					m := new(mdns.Msg)
					m.SetReply(q)
					m.Truncated = true
					w.WriteMsg(m)
				})}
			},
			check: wantA("192.0.2.6"),
		},
		{
			name: "FORMERR without OPT: asked again without",
			servers: func(t *testing.T) []netip.AddrPort {
				return []netip.AddrPort{startUpstream(t, func(w mdns.ResponseWriter, q *mdns.Msg) {
					if q.IsEdns0() != nil {
						m := new(mdns.Msg)
						m.SetRcode(q, mdns.RcodeFormatError)
						w.WriteMsg(m)
						return
					}
					answerA("192.0.2.8")(w, q)
				})}
			},
			check: wantA("192.0.2.8"),
		},
		{
			name: "rebinding: VNet's address removed",
			servers: func(t *testing.T) []netip.AddrPort {
				return []netip.AddrPort{startUpstream(t, func(w mdns.ResponseWriter, q *mdns.Msg) {
					m := new(mdns.Msg)
					m.SetReply(q)
					for _, ip := range []string{"100.64.0.5", "192.0.2.10"} {
						rr, _ := mdns.NewRR(q.Question[0].Name + " 60 IN A " + ip)
						m.Answer = append(m.Answer, rr)
					}
					w.WriteMsg(m)
				})}
			},
			check: wantA("192.0.2.10"),
		},
		{
			name: "too long for the client: truncated",
			servers: func(t *testing.T) []netip.AddrPort {
				return []netip.AddrPort{startUpstream(t, many)}
			},
			check: func(t *testing.T, resp *mdns.Msg) {
				if !resp.Truncated || len(resp.Answer) >= 60 {
					t.Errorf("answer of %d records, TC %v: want fewer, TC set", len(resp.Answer), resp.Truncated)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			f := newForwarder(t, waitTimeout, tc.servers(t)...)
			guarded := dns.NewRebindGuard(f, func(a netip.Addr) bool {
				return netip.MustParsePrefix("100.64.0.0/10").Contains(a)
			}, nil)
			addr, _ := serveUDPWith(t, nil, guarded)
			tc.check(t, exchange(t, "udp", addr, query("over.example.", mdns.TypeA)))
			if _, handed := dns.ForwarderWire(f); handed != 1 {
				t.Errorf("%d queries handed over, want 1", handed)
			}
			if got := dns.ForwarderDropped(f); got != 0 {
				t.Errorf("dropped %d answers, want none", got)
			}
		})
	}
}

// wantA checks that resp holds exactly one A record, for ip.
func wantA(ip string) func(t *testing.T, resp *mdns.Msg) {
	return func(t *testing.T, resp *mdns.Msg) {
		t.Helper()
		if resp.Rcode != mdns.RcodeSuccess || len(resp.Answer) != 1 {
			t.Fatalf("answer = %v, want one A record for %s", resp, ip)
		}
		if a, ok := resp.Answer[0].(*mdns.A); !ok || a.A.String() != ip {
			t.Errorf("answer = %v, want %s", resp.Answer[0], ip)
		}
	}
}

// TestForwardWireStaggerKeepsTheQuerySent: a first server that does not
// answer is not asked again when the query goes to Exchange at its
// stagger; the next one is, and the first one's late answer is dropped.
func TestForwardWireStaggerKeepsTheQuerySent(t *testing.T) {
	checkGoroutines(t)
	held := make(chan func(), 1)
	silent := startRawUpstream(t, func(u *rawUpstream, q *mdns.Msg, from net.Addr) {
		held <- func() { u.send(t, aAnswer(q, q.Question[0].Name, "198.51.100.1"), from) }
	})
	good := startRawUpstream(t, answering("192.0.2.3"))
	f := newForwarder(t, waitTimeout, silent.addr(), good.addr())
	addr, _ := serveUDPWith(t, nil, f)
	wantA("192.0.2.3")(t, exchange(t, "udp", addr, query("slow.example.", mdns.TypeA)))
	if got := silent.received.Load(); got != 1 {
		t.Errorf("the silent server got %d queries, want 1", got)
	}
	if down := dns.ForwarderDown(f); !down[0] || down[1] {
		t.Errorf("servers down: %v, want the silent one only", down)
	}
	// Its answer now comes, after the query was answered.
	(<-held)()
	eventually(t, "the late answer to be dropped", func() bool { return dns.ForwarderDropped(f) == 1 })
}

func TestForwardWireDeadUpstreamServfail(t *testing.T) {
	checkGoroutines(t)
	dead := startRawUpstream(t, nil)
	f := newForwarder(t, 300*time.Millisecond, dead.addr())
	addr, srv := serveUDPWith(t, nil, f)
	resp := exchange(t, "udp", addr, query("dead.example.", mdns.TypeA))
	if resp.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode = %s, want SERVFAIL", mdns.RcodeToString[resp.Rcode])
	}
	if got := dead.received.Load(); got != 1 {
		t.Errorf("the dead server got %d queries, want 1", got)
	}
	eventually(t, "no query in flight", func() bool { return srv.Stats().InFlight == 0 })
}

// TestForwardWireClose: a query waiting on the wire when the Server and
// then the Forwarder close gives its slot back and leaves no goroutine.
func TestForwardWireClose(t *testing.T) {
	checkGoroutines(t)
	silent := startRawUpstream(t, nil)
	f, err := dns.NewForwarder([]netip.AddrPort{silent.addr()}, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	addr, srv := serveUDPWith(t, nil, f)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, _ := query("waiting.example.", mdns.TypeA).Pack()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the query upstream", func() bool { return silent.received.Load() == 1 })
	srv.Close() // ServeUDP's return is checked at cleanup
	f.Close()
	if got := srv.Stats().InFlight; got != 0 {
		t.Errorf("%d queries in flight after close, want 0", got)
	}
}

// FuzzReadAnswer: whatever the upstream sends, the wire path does not
// panic, and when it takes an answer that miekg/dns reads too, it has seen
// every A and AAAA record miekg/dns sees (the rebinding guard's rule
// rests on it).
func FuzzReadAnswer(f *testing.F) {
	q := query("a.example.", mdns.TypeA)
	qb, _ := q.Pack()
	question := qb[12:]
	for _, m := range []*mdns.Msg{
		aAnswer(q, "a.example.", "192.0.2.1"),
		aAnswer(q, "A.EXAMPLE.", "100.64.0.1"),
		func() *mdns.Msg {
			m := aAnswer(q, "a.example.", "192.0.2.1")
			aaaa, _ := mdns.NewRR("ns.example. 60 IN AAAA fd00::1")
			m.Extra = append(m.Extra, aaaa)
			m.SetEdns0(1232, false)
			m.Compress = true
			return m
		}(),
	} {
		b, _ := m.Pack()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		addrs, ok := dns.ReadAnswerAddrs(pkt, question)
		m := new(mdns.Msg)
		if !ok || m.Unpack(pkt) != nil {
			return
		}
		var want [][]byte
		for _, rrs := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range rrs {
				switch rr := rr.(type) {
				case *mdns.A:
					want = append(want, rr.A.To4())
				case *mdns.AAAA:
					want = append(want, rr.AAAA.To16())
				}
			}
		}
		if fmt.Sprint(addrs) != fmt.Sprint(want) {
			t.Errorf("the wire path read addresses %v, miekg/dns %v", addrs, want)
		}
	})
}
