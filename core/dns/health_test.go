package dns_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// answering answers every query with an A record for ip.
func answering(ip string) func(u *rawUpstream, q *mdns.Msg, from net.Addr) {
	return func(u *rawUpstream, q *mdns.Msg, from net.Addr) {
		b, _ := aAnswer(q, q.Question[0].Name, ip).Pack()
		u.pc.WriteTo(b, from)
	}
}

// servfailing answers every query SERVFAIL.
func servfailing(u *rawUpstream, q *mdns.Msg, from net.Addr) {
	m := new(mdns.Msg)
	m.SetRcode(q, mdns.RcodeServerFailure)
	b, _ := m.Pack()
	u.pc.WriteTo(b, from)
}

func TestForwarderAsksDeadServerLast(t *testing.T) {
	checkGoroutines(t)
	dead := startRawUpstream(t, nil) // receives, never answers
	live := startRawUpstream(t, answering("192.0.2.8"))
	f := newForwarder(t, waitTimeout, dead.addr(), live.addr())
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	dns.SetForwarderClock(f, clock.Now)
	ask := func() {
		t.Helper()
		resp, err := forward(t, f, context.Background(), query("a.example.", mdns.TypeA))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Answer) != 1 {
			t.Fatalf("answer = %v", resp)
		}
	}

	// The first query finds the dead server first: the live one is
	// asked too, staggered, and answers. The dead one is down now.
	ask()
	if got := dns.ForwarderDown(f); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("down = %v, want the first server down", got)
	}
	// While it is down the live server is asked first and answers
	// before the dead one's turn: the dead one sees no more queries.
	for range 20 {
		ask()
	}
	if got, want := dead.received.Load(), int64(1); got != want {
		t.Errorf("dead server got %d queries, want %d", got, want)
	}
	if got, want := live.received.Load(), int64(21); got != want {
		t.Errorf("live server got %d queries, want %d", got, want)
	}

	// Once its time is up it is asked first again, as configured.
	clock.Add(time.Hour)
	ask()
	if got := dead.received.Load(); got != 2 {
		t.Errorf("dead server got %d queries after its down time, want 2", got)
	}
}

func TestForwarderServfailDoesNotWaitForDownServer(t *testing.T) {
	checkGoroutines(t)
	sf := startRawUpstream(t, servfailing)
	dead := startRawUpstream(t, nil)
	// The first query waits for the dead server until the timeout; keep
	// it short. Nothing below depends on how long it is.
	f := newForwarder(t, 300*time.Millisecond, sf.addr(), dead.addr())
	for range 5 {
		resp, err := forward(t, f, context.Background(), query("a.example.", mdns.TypeA))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Rcode != mdns.RcodeServerFailure {
			t.Fatalf("rcode = %s, want the relayed SERVFAIL", mdns.RcodeToString[resp.Rcode])
		}
	}
	// SERVFAIL made the forwarder ask the dead server at once, once;
	// down, it is not asked again while an answer, even SERVFAIL, is in.
	if got := dead.received.Load(); got != 1 {
		t.Errorf("dead server got %d queries, want 1", got)
	}
	if got := sf.received.Load(); got != 5 {
		t.Errorf("SERVFAIL server got %d queries, want 5", got)
	}
}

func TestForwarderClosedPortFailsOverAtOnce(t *testing.T) {
	checkGoroutines(t)
	// A port nothing listens on: the kernel answers port unreachable,
	// which the forwarder takes as that server's failure.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	live := startRawUpstream(t, answering("192.0.2.8"))
	f := newForwarder(t, waitTimeout, closed, live.addr())
	if _, err := forward(t, f, context.Background(), query("a.example.", mdns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if got := dns.ForwarderDown(f); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("down = %v, want the closed port down", got)
	}
}
