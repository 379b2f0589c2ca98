package dns_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
)

// rawUpstream is a fake upstream on loopback UDP that hands every query it
// receives, with its sender, to handle, and counts them.
type rawUpstream struct {
	pc       net.PacketConn
	received atomic.Int64

	mu    sync.Mutex
	ports map[int]bool // guarded by mu; source ports seen
}

func startRawUpstream(t *testing.T, handle func(u *rawUpstream, q *mdns.Msg, from net.Addr)) *rawUpstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{pc: pc, ports: map[int]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			u.received.Add(1)
			u.mu.Lock()
			u.ports[from.(*net.UDPAddr).Port] = true
			u.mu.Unlock()
			q := new(mdns.Msg)
			if q.Unpack(buf[:n]) == nil && handle != nil {
				handle(u, q, from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return u
}

func (u *rawUpstream) addr() netip.AddrPort {
	return netip.MustParseAddrPort(u.pc.LocalAddr().String())
}

func (u *rawUpstream) portsSeen() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.ports)
}

// send sends m to addr.
func (u *rawUpstream) send(t *testing.T, m *mdns.Msg, to net.Addr) {
	b, err := m.Pack()
	if err != nil {
		t.Error(err)
		return
	}
	u.pc.WriteTo(b, to)
}

// aAnswer is the answer to q with one A record of name, for ip.
func aAnswer(q *mdns.Msg, name, ip string) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(q)
	m.Question[0].Name = name
	rr, _ := mdns.NewRR(name + " 60 IN A " + ip)
	m.Answer = append(m.Answer, rr)
	return m
}

func TestForwarderPoolDropsAnswersToOtherQueries(t *testing.T) {
	checkGoroutines(t)
	// Before the real answer the upstream sends one with another ID and
	// one with the right ID about another name (a spoofer's two tries).
	up := startRawUpstream(t, func(u *rawUpstream, q *mdns.Msg, from net.Addr) {
		wrongID := aAnswer(q, q.Question[0].Name, "198.51.100.66")
		wrongID.Id = q.Id + 1
		u.send(t, wrongID, from)
		u.send(t, aAnswer(q, "evil.example.", "198.51.100.66"), from)
		u.send(t, aAnswer(q, q.Question[0].Name, "192.0.2.9"), from)
	})
	f := newForwarder(t, waitTimeout, up.addr())
	resp, err := forward(t, f, context.Background(), query("good.example.", mdns.TypeA))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Answer) != 1 || resp.Answer[0].(*mdns.A).A.String() != "192.0.2.9" {
		t.Errorf("answer = %v, want the real one", resp.Answer)
	}
	if got := dns.ForwarderDropped(f); got != 2 {
		t.Errorf("dropped %d answers, want 2", got)
	}
}

func TestForwarderPoolDropsLateAnswers(t *testing.T) {
	checkGoroutines(t)
	var (
		mu    sync.Mutex
		first *mdns.Msg // the query not answered in time
		from1 net.Addr
	)
	arrived := make(chan struct{}, 1)
	up := startRawUpstream(t, func(u *rawUpstream, q *mdns.Msg, from net.Addr) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first, from1 = q, from
			arrived <- struct{}{}
			return
		}
		// The answer to the first query comes late, just before
		// this one's.
		u.send(t, aAnswer(first, first.Question[0].Name, "198.51.100.1"), from1)
		u.send(t, aAnswer(q, q.Question[0].Name, "192.0.2.2"), from)
	})
	f := newForwarder(t, waitTimeout, up.addr())

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := f.Exchange(ctx, query("slow.example.", mdns.TypeA))
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled Exchange returned no error")
	}

	resp, err := forward(t, f, context.Background(), query("next.example.", mdns.TypeA))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Answer) != 1 || resp.Answer[0].(*mdns.A).A.String() != "192.0.2.2" {
		t.Errorf("answer = %v, want the second query's own", resp.Answer)
	}
	eventually(t, "the late answer to be dropped", func() bool { return dns.ForwarderDropped(f) == 1 })
	if down := dns.ForwarderDown(f); down[0] {
		t.Error("a query the client gave up on marked the server down")
	}
}

func TestForwarderPoolReusesAndRenewsSockets(t *testing.T) {
	checkGoroutines(t)
	up := startRawUpstream(t, answering("192.0.2.1"))
	f := newForwarder(t, waitTimeout, up.addr())
	const queries = 4 * dns.SocketUses
	for range queries {
		if _, err := forward(t, f, context.Background(), query("a.example.", mdns.TypeA)); err != nil {
			t.Fatal(err)
		}
	}
	// Four sockets, each retired after SocketUses queries: every port
	// carried many queries, and fresh ports replaced the first ones.
	if got := up.portsSeen(); got > queries/dns.SocketUses*2 || got < 2 {
		t.Errorf("%d queries came from %d ports; want reuse (at most %d) and renewal (at least 2)",
			queries, got, queries/dns.SocketUses*2)
	}
}
