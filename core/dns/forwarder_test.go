package dns_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
)

// startUpstream runs h as a DNS server on UDP and TCP of one loopback
// port, as a real resolver would, until the test ends.
func startUpstream(t *testing.T, h mdns.HandlerFunc) netip.AddrPort {
	t.Helper()
	var (
		pc  net.PacketConn
		l   net.Listener
		err error
	)
	// The kernel picks a free UDP port; the same TCP port may be taken.
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("no UDP+TCP port pair: %v", err)
	}
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.ActivateAndServe()
		}()
		<-started
		t.Cleanup(func() {
			srv.Shutdown()
			<-done
		})
	}
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// deadUpstream is a UDP socket that never answers.
func deadUpstream(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func isTCP(w mdns.ResponseWriter) bool {
	_, ok := w.RemoteAddr().(*net.TCPAddr)
	return ok
}

// answerA answers every question with one A record for ip, echoing the
// client's OPT as a server does.
func answerA(ip string) mdns.HandlerFunc {
	return func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		rr, _ := mdns.NewRR(q.Question[0].Name + " 60 IN A " + ip)
		m.Answer = append(m.Answer, rr)
		if opt := q.IsEdns0(); opt != nil {
			m.SetEdns0(opt.UDPSize(), opt.Do())
		}
		w.WriteMsg(m)
	}
}

// forward runs Exchange with a watchdog so a hang fails the test.
func forward(t *testing.T, f *dns.Forwarder, ctx context.Context, q *mdns.Msg) (*mdns.Msg, error) {
	t.Helper()
	type result struct {
		m   *mdns.Msg
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := f.Exchange(ctx, q)
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-time.After(waitTimeout):
		t.Fatal("Exchange hung")
		return nil, nil
	}
}

func newForwarder(t *testing.T, timeout time.Duration, servers ...netip.AddrPort) *dns.Forwarder {
	t.Helper()
	f, err := dns.NewForwarder(servers, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestForwarderAnswers(t *testing.T) {
	var sawSize atomic.Uint32
	up := startUpstream(t, func(w mdns.ResponseWriter, q *mdns.Msg) {
		if opt := q.IsEdns0(); opt != nil {
			sawSize.Store(uint32(opt.UDPSize()))
		}
		answerA("192.0.2.1")(w, q)
	})
	f := newForwarder(t, 0, up)

	tests := []struct {
		name     string
		edns     uint16 // client's EDNS0 buffer; 0: none
		wantSeen uint32 // buffer the upstream saw
	}{
		{name: "client without EDNS0 gets 1232 upstream", edns: 0, wantSeen: 1232},
		{name: "client EDNS0 size is passed on", edns: 4000, wantSeen: 4000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := query("App.Example.", mdns.TypeA)
			if tc.edns != 0 {
				q.SetEdns0(tc.edns, false)
			}
			orig := q.Copy()
			resp, err := forward(t, f, context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Id != q.Id {
				t.Errorf("id = %d, want the client's %d", resp.Id, q.Id)
			}
			if len(resp.Answer) != 1 || resp.Answer[0].(*mdns.A).A.String() != "192.0.2.1" {
				t.Errorf("answer = %v", resp.Answer)
			}
			if got := sawSize.Load(); got != tc.wantSeen {
				t.Errorf("upstream saw EDNS0 size %d, want %d", got, tc.wantSeen)
			}
			if (resp.IsEdns0() != nil) != (tc.edns != 0) {
				t.Errorf("OPT in answer = %v, want %v (as the client asked)", resp.IsEdns0() != nil, tc.edns != 0)
			}
			if q.String() != orig.String() {
				t.Errorf("Exchange modified the query:\n%v\nwas\n%v", q, orig)
			}
		})
	}
}

func TestForwarderRetriesTruncatedOverTCP(t *testing.T) {
	var udp, tcp atomic.Int32
	up := startUpstream(t, func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		if !isTCP(w) {
			udp.Add(1)
			m.Truncated = true
			w.WriteMsg(m)
			return
		}
		tcp.Add(1)
		for i := range 100 {
			m.Answer = append(m.Answer, &mdns.A{
				Hdr: mdns.RR_Header{Name: q.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, byte(i)),
			})
		}
		w.WriteMsg(m)
	})
	resp, err := forward(t, newForwarder(t, 0, up), context.Background(), query("big.example.", mdns.TypeA))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Truncated || len(resp.Answer) != 100 {
		t.Errorf("TC=%v with %d answers, want the full TCP answer of 100", resp.Truncated, len(resp.Answer))
	}
	if udp.Load() != 1 || tcp.Load() != 1 {
		t.Errorf("queries: %d over UDP, %d over TCP; want 1 and 1", udp.Load(), tcp.Load())
	}
}

func TestForwarderDeadUpstreamFailsWithinTimeout(t *testing.T) {
	f := newForwarder(t, 300*time.Millisecond, deadUpstream(t))
	resp, err := forward(t, f, context.Background(), query("example.org.", mdns.TypeA))
	if err == nil {
		t.Fatalf("got %v, want an error", resp)
	}
}

func TestForwarderCancelEndsExchange(t *testing.T) {
	// The timeout is far longer than the watchdog: only cancel can end it.
	f := newForwarder(t, time.Hour, deadUpstream(t))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := forward(t, f, ctx, query("example.org.", mdns.TypeA)); err == nil {
		t.Fatal("want an error after cancel")
	}
}

func TestForwarderTriesNextServer(t *testing.T) {
	servfail := startUpstream(t, func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetRcode(q, mdns.RcodeServerFailure)
		w.WriteMsg(m)
	})
	good := startUpstream(t, answerA("192.0.2.9"))
	tests := []struct {
		name      string
		servers   []netip.AddrPort
		wantRcode int
		wantErr   bool
	}{
		{name: "dead then good", servers: []netip.AddrPort{deadUpstream(t), good}, wantRcode: mdns.RcodeSuccess},
		{name: "servfail then good", servers: []netip.AddrPort{servfail, good}, wantRcode: mdns.RcodeSuccess},
		{name: "only servfail is relayed", servers: []netip.AddrPort{servfail}, wantRcode: mdns.RcodeServerFailure},
		{name: "dead then servfail", servers: []netip.AddrPort{deadUpstream(t), servfail}, wantRcode: mdns.RcodeServerFailure},
		{name: "all dead", servers: []netip.AddrPort{deadUpstream(t), deadUpstream(t)}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newForwarder(t, time.Second, tc.servers...)
			resp, err := forward(t, f, context.Background(), query("example.org.", mdns.TypeA))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", resp)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Rcode != tc.wantRcode {
				t.Errorf("rcode = %s, want %s", mdns.RcodeToString[resp.Rcode], mdns.RcodeToString[tc.wantRcode])
			}
		})
	}
}

func TestForwarderFallsBackWithoutEDNS(t *testing.T) {
	// An old server that answers FORMERR to any OPT (RFC 6891 section 7).
	up := startUpstream(t, func(w mdns.ResponseWriter, q *mdns.Msg) {
		if q.IsEdns0() != nil {
			m := new(mdns.Msg)
			m.SetRcode(q, mdns.RcodeFormatError)
			m.Extra = nil
			w.WriteMsg(m)
			return
		}
		answerA("192.0.2.3")(w, q)
	})
	resp, err := forward(t, newForwarder(t, 0, up), context.Background(), query("old.example.", mdns.TypeA))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rcode != mdns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Errorf("got %v, want the plain answer", resp)
	}
}

func TestForwarderRejectsAnswerToAnotherQuestion(t *testing.T) {
	up := startUpstream(t, func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		m.Question[0].Name = "evil.example."
		w.WriteMsg(m)
	})
	if resp, err := forward(t, newForwarder(t, 0, up), context.Background(), query("good.example.", mdns.TypeA)); err == nil {
		t.Fatalf("got %v, want an error", resp)
	}
}

func TestNewForwarder(t *testing.T) {
	tests := []struct {
		name    string
		servers []netip.AddrPort
		wantErr error // nil: success; errAny: any error
	}{
		{name: "no servers", servers: nil, wantErr: dns.ErrNoUpstream},
		{name: "invalid server", servers: []netip.AddrPort{{}}, wantErr: errAny},
		{name: "port zero", servers: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:0")}, wantErr: errAny},
		{name: "ok", servers: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:53")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := dns.NewForwarder(tc.servers, 0)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			case tc.wantErr == nil && len(f.Servers()) != len(tc.servers):
				t.Fatalf("Servers() = %v", f.Servers())
			}
		})
	}
}

var errAny = errors.New("any error")
