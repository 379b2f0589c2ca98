package dns_test

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
)

// observed records what dns.Timed reports.
type observed struct {
	mu     sync.Mutex
	failed []bool
}

func (o *observed) observe(failed bool, d time.Duration) {
	if d <= 0 {
		failed = !failed // a duration that cannot be: shows as the wrong outcome
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed = append(o.failed, failed)
}

func (o *observed) get() []bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]bool(nil), o.failed...)
}

// TestTimedForwardsOnTheWire: behind dns.Timed (vnet up --metrics-addr)
// the usual forwarded query still goes on the wire, and every query is
// reported once: on the wire, handed over, or failed.
func TestTimedForwardsOnTheWire(t *testing.T) {
	checkGoroutines(t)
	up := startRawUpstream(t, func(u *rawUpstream, q *mdns.Msg, from net.Addr) {
		m := aAnswer(q, q.Question[0].Name, "192.0.2.7")
		if q.Question[0].Name == "fail.example." {
			m.Answer, m.Rcode = nil, mdns.RcodeServerFailure
		}
		u.send(t, m, from)
	})
	f := newForwarder(t, waitTimeout, up.addr())
	var o observed
	guarded := dns.NewRebindGuard(f, func(a netip.Addr) bool { return false }, nil)
	addr, _ := serveUDPWith(t, nil, dns.Timed(guarded, o.observe))

	if resp := exchange(t, "udp", addr, query("ok.example.", mdns.TypeA)); len(resp.Answer) != 1 {
		t.Fatalf("answer = %v", resp)
	}
	if onWire, handed := dns.ForwarderWire(f); onWire != 1 || handed != 0 {
		t.Errorf("%d answers on the wire, %d handed over; want 1 and 0", onWire, handed)
	}
	if got := o.get(); len(got) != 1 || got[0] {
		t.Errorf("reported %v after an answer on the wire, want [false]", got)
	}
	// SERVFAIL goes to Exchange, which returns it as the answer.
	if resp := exchange(t, "udp", addr, query("fail.example.", mdns.TypeA)); resp.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("rcode = %s", mdns.RcodeToString[resp.Rcode])
	}
	if _, handed := dns.ForwarderWire(f); handed != 1 {
		t.Errorf("%d handed over, want 1", handed)
	}
	if got := o.get(); len(got) != 2 || got[1] {
		t.Errorf("reported %v after a handover, want [false false]", got)
	}

	// A dead upstream: handed over at the timeout, failed.
	dead := startRawUpstream(t, nil)
	fd := newForwarder(t, 300*time.Millisecond, dead.addr())
	var od observed
	deadAddr, _ := serveUDPWith(t, nil, dns.Timed(fd, od.observe))
	if resp := exchange(t, "udp", deadAddr, query("dead.example.", mdns.TypeA)); resp.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode = %s, want SERVFAIL", mdns.RcodeToString[resp.Rcode])
	}
	if got := od.get(); len(got) != 1 || !got[0] {
		t.Errorf("reported %v for a dead upstream, want [true]", got)
	}
}
