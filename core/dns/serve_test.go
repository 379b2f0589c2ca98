package dns_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/dns/dnstest"
)

func exchange(t *testing.T, network, addr string, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: network, Timeout: waitTimeout, UDPSize: mdns.MaxMsgSize}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("exchange over %s: %v", network, err)
	}
	return resp
}

func TestServeAnswersOverUDPAndTCP(t *testing.T) {
	s := serve(t, dns.Config{})
	tests := []struct {
		name   string
		Qname  string
		Qtype  uint16
		Rcode  int
		Answer []string
	}{
		{name: "owned", Qname: "TCP-app.company.test.", Qtype: mdns.TypeA,
			Answer: []string{"TCP-app.company.test. 10 IN A 100.64.0.5"}},
		{name: "owned NODATA", Qname: "v4only.company.test.", Qtype: mdns.TypeAAAA},
		{name: "forwarded", Qname: "example.org.", Qtype: mdns.TypeA,
			Answer: []string{"example.org. 300 IN A 192.0.2.1"}},
		{name: "forwarded NXDOMAIN", Qname: "nope.example.", Qtype: mdns.TypeA, Rcode: mdns.RcodeNameError},
	}
	for _, network := range []string{"udp", "tcp"} {
		addr := map[string]string{"udp": s.udpAddr, "tcp": s.tcpAddr}[network]
		for _, tc := range tests {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				resp := exchange(t, network, addr, query(tc.Qname, tc.Qtype))
				if resp.Rcode != tc.Rcode {
					t.Errorf("rcode = %s, want %s", mdns.RcodeToString[resp.Rcode], mdns.RcodeToString[tc.Rcode])
				}
				if got, want := rrStrings(resp.Answer), canonRRs(t, tc.Answer); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("answer = %q, want %q", got, want)
				}
			})
		}
	}
}

func TestServeUDPIgnoresGarbage(t *testing.T) {
	s := serve(t, dns.Config{})
	conn, err := net.Dial("udp", s.udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	junks := [][]byte{
		{0x01},
		[]byte("hello, this is not DNS at all"),
		{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'f', 'o'},          // question cut short
		{0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, // pointer loop
	}
	for _, junk := range junks {
		if _, err := conn.Write(junk); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "garbage to be counted", func() bool { return s.srv.Stats().Malformed == uint64(len(junks)) })

	// The server is still there and answers on the same socket.
	co := &mdns.Conn{Conn: conn}
	q := query("tcp-app.company.test.", mdns.TypeA)
	if err := co.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := co.ReadMsg()
	if err != nil {
		t.Fatalf("no answer after garbage: %v", err)
	}
	if resp.Id != q.Id || len(resp.Answer) != 1 {
		t.Errorf("answer = %v, want one record for id %d", resp, q.Id)
	}
}

func TestServeTruncatesUDPOnly(t *testing.T) {
	s := serve(t, dns.Config{})
	var addrs []netip.Addr
	for i := range 60 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{100, 64, 1, byte(i)}))
	}
	s.resolver.Set("big.company.test", dns.Answer{Addrs: addrs, TTL: 5})

	tests := []struct {
		name      string
		network   string
		edns      uint16 // 0: no OPT
		wantTC    bool
		wantCount int // -1: fewer than 60
		maxLen    int
	}{
		{name: "UDP without EDNS0 fits 512", network: "udp", wantTC: true, wantCount: -1, maxLen: 512},
		{name: "UDP with small EDNS0 buffer", network: "udp", edns: 600, wantTC: true, wantCount: -1, maxLen: 600},
		{name: "UDP with EDNS0 4096", network: "udp", edns: 4096, wantCount: 60, maxLen: 4096},
		{name: "TCP is not truncated", network: "tcp", wantCount: 60, maxLen: mdns.MaxMsgSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := query("big.company.test.", mdns.TypeA)
			if tc.edns != 0 {
				q.SetEdns0(tc.edns, false)
			}
			addr := s.udpAddr
			if tc.network == "tcp" {
				addr = s.tcpAddr
			}
			// Read the raw bytes to check the size on the wire.
			conn, err := net.Dial(tc.network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			co := &mdns.Conn{Conn: conn, UDPSize: mdns.MaxMsgSize}
			if err := co.WriteMsg(q); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(waitTimeout))
			raw, err := co.ReadMsgHeader(nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) > tc.maxLen {
				t.Errorf("answer is %d bytes, want at most %d", len(raw), tc.maxLen)
			}
			resp := new(mdns.Msg)
			if err := resp.Unpack(raw); err != nil {
				t.Fatal(err)
			}
			if resp.Truncated != tc.wantTC {
				t.Errorf("TC = %v, want %v", resp.Truncated, tc.wantTC)
			}
			switch {
			case tc.wantCount == -1 && len(resp.Answer) >= 60:
				t.Errorf("%d answers, want fewer than 60", len(resp.Answer))
			case tc.wantCount >= 0 && len(resp.Answer) != tc.wantCount:
				t.Errorf("%d answers, want %d", len(resp.Answer), tc.wantCount)
			}
		})
	}
}

func TestServeTCPPipelined(t *testing.T) {
	s := serve(t, dns.Config{})
	conn, err := net.Dial("tcp", s.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	co := &mdns.Conn{Conn: conn}
	q1, q2 := query("tcp-app.company.test.", mdns.TypeA), query("example.org.", mdns.TypeA)
	q2.Id = q1.Id + 1
	for _, q := range []*mdns.Msg{q1, q2} {
		if err := co.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(waitTimeout))
	got := map[uint16]int{}
	for range 2 {
		resp, err := co.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		got[resp.Id] = len(resp.Answer)
	}
	if got[q1.Id] != 1 || got[q2.Id] != 1 {
		t.Errorf("answers by id = %v, want one record for %d and %d", got, q1.Id, q2.Id)
	}
}

func TestServeTCPClosesIdleConnections(t *testing.T) {
	s := serve(t, dns.Config{TCPIdleTimeout: 50 * time.Millisecond})
	conn, err := net.Dial("tcp", s.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read on idle connection = %v, want EOF from the server closing it", err)
	}
}

func TestServeUDPDropsWhenFull(t *testing.T) {
	s := serve(t, dns.Config{MaxInFlight: 1})
	release := s.upstream.Hold()
	defer release()

	conn, err := net.Dial("udp", s.udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	co := &mdns.Conn{Conn: conn}
	slow := query("example.org.", mdns.TypeA)
	if err := co.WriteMsg(slow); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.upstream.Arrived(): // the only slot is now taken
	case <-time.After(waitTimeout):
		t.Fatal("query never reached the upstream")
	}
	dropped := query("tcp-app.company.test.", mdns.TypeA)
	dropped.Id = slow.Id + 1
	if err := co.WriteMsg(dropped); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a dropped query", func() bool { return s.srv.Stats().Dropped == 1 })

	release()
	conn.SetReadDeadline(time.Now().Add(waitTimeout))
	resp, err := co.ReadMsg()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Id != slow.Id {
		t.Fatalf("got answer to id %d, want only the held query %d", resp.Id, slow.Id)
	}
	// With the slot free again the next query is answered. The slot is
	// given back just after the answer is sent, so wait for it.
	eventually(t, "the slot to be free", func() bool { return s.srv.Stats().InFlight == 0 })
	if resp := exchange(t, "udp", s.udpAddr, query("tcp-app.company.test.", mdns.TypeA)); len(resp.Answer) != 1 {
		t.Errorf("answer after drain = %v", resp)
	}
}

func TestServeTCPWaitsWhenFull(t *testing.T) {
	s := serve(t, dns.Config{MaxInFlight: 1})
	release := s.upstream.Hold()
	defer release()

	udp, err := net.Dial("udp", s.udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	if err := (&mdns.Conn{Conn: udp}).WriteMsg(query("example.org.", mdns.TypeA)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.upstream.Arrived():
	case <-time.After(waitTimeout):
		t.Fatal("query never reached the upstream")
	}

	tcpDone := make(chan *mdns.Msg, 1)
	go func() {
		c := &mdns.Client{Net: "tcp", Timeout: waitTimeout}
		resp, _, _ := c.Exchange(query("tcp-app.company.test.", mdns.TypeA), s.tcpAddr)
		tcpDone <- resp
	}()
	// Not a timing assertion: this can only fail if the TCP query is
	// answered while the only slot is held.
	select {
	case resp := <-tcpDone:
		t.Fatalf("TCP query answered while MaxInFlight was reached: %v", resp)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	select {
	case resp := <-tcpDone:
		if resp == nil || len(resp.Answer) != 1 {
			t.Errorf("TCP answer = %v, want one record", resp)
		}
	case <-time.After(waitTimeout):
		t.Fatal("TCP query not answered after the slot was freed")
	}
	if got := s.srv.Stats().Dropped; got != 0 {
		t.Errorf("Dropped = %d, want 0: TCP waits instead", got)
	}
}

func TestServeStopsOnContextAndClose(t *testing.T) {
	s := serve(t, dns.Config{TCPIdleTimeout: time.Hour})
	// An idle TCP client must not keep ServeTCP alive.
	idle, err := net.Dial("tcp", s.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// One answered query makes sure the server holds the connection.
	co := &mdns.Conn{Conn: idle}
	if err := co.WriteMsg(query("tcp-app.company.test.", mdns.TypeA)); err != nil {
		t.Fatal(err)
	}
	idle.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := co.ReadMsg(); err != nil {
		t.Fatal(err)
	}
	release := s.upstream.Hold() // never released: ctx must end the query
	defer release()
	conn, err := net.Dial("udp", s.udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := (&mdns.Conn{Conn: conn}).WriteMsg(query("example.org.", mdns.TypeA)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.upstream.Arrived():
	case <-time.After(waitTimeout):
		t.Fatal("query never reached the upstream")
	}

	s.cancel()
	for name, ch := range map[string]chan error{"ServeUDP": s.udpDone, "ServeTCP": s.tcpDone} {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("%s = %v, want nil", name, err)
			}
			ch <- err
		case <-time.After(waitTimeout):
			t.Fatalf("%s did not return after cancel with a query in flight", name)
		}
	}
	if err := s.srv.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := s.srv.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := s.srv.ServeUDP(context.Background(), pc); !errors.Is(err, dns.ErrServerClosed) {
		t.Errorf("ServeUDP after Close = %v, want ErrServerClosed", err)
	}
}

func TestServeWithForwarder(t *testing.T) {
	checkGoroutines(t)
	up := startUpstream(t, answerA("192.0.2.7"))
	fwd, err := dns.NewForwarder([]netip.AddrPort{up}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	r := dnstest.NewResolver()
	r.Set("tcp-app.company.test", dns.Answer{Addrs: []netip.Addr{netip.MustParseAddr("100.64.0.5")}})
	addr, _ := serveUDPWith(t, r, fwd) // forward_wire_test.go
	resp := exchange(t, "udp", addr, query("Forwarded.Example.", mdns.TypeA))
	if got, want := rrStrings(resp.Answer), canonRRs(t, []string{"Forwarded.Example. 60 IN A 192.0.2.7"}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("answer = %q, want %q", got, want)
	}
	if resp.IsEdns0() != nil {
		t.Errorf("forwarded answer carries an OPT the client did not send")
	}
	resp = exchange(t, "udp", addr, query("tcp-app.company.test.", mdns.TypeA))
	if len(resp.Answer) != 1 || !resp.Authoritative {
		t.Errorf("owned answer = %v", resp)
	}
}

func TestServeReturnsWhenCallerClosesSocket(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, dns.Config{})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		serve func() error
		close func() error
	}{
		{name: "UDP", serve: func() error { return f.srv.ServeUDP(context.Background(), pc) }, close: pc.Close},
		{name: "TCP", serve: func() error { return f.srv.ServeTCP(context.Background(), l) }, close: l.Close},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- tc.serve() }()
			tc.close()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve = %v, want nil", err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("Serve did not return after its socket was closed")
			}
		})
	}
}
