package dns_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
)

// sent is one answer a Datagrams sent.
type sent struct {
	from, to netip.AddrPort
	msg      *mdns.Msg
}

// datagramSink records what a Datagrams sends.
type datagramSink struct {
	mu   sync.Mutex
	sent []sent // guarded by mu
}

func (k *datagramSink) send(from, to netip.AddrPort, b []byte) error {
	m := new(mdns.Msg)
	if err := m.Unpack(b); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sent = append(k.sent, sent{from, to, m})
	return nil
}

func (k *datagramSink) all() []sent {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]sent(nil), k.sent...)
}

func TestDatagrams(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, dns.Config{})
	sink := &datagramSink{}
	d, err := f.srv.ServeDatagrams(context.Background(), sink.send)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	client := netip.MustParseAddrPort("100.64.0.1:40000")
	server := netip.MustParseAddrPort("100.64.0.2:53")
	pack := func(m *mdns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// VNet's own name: answered before Handle returns, from the address
	// the query was sent to.
	own := query("tcp-app.company.test.", mdns.TypeA)
	d.Handle(client, server, pack(own))
	got := sink.all()
	if len(got) != 1 {
		t.Fatalf("%d answers right after Handle, want 1", len(got))
	}
	if got[0].from != server || got[0].to != client || got[0].msg.Id != own.Id || len(got[0].msg.Answer) != 1 {
		t.Errorf("answer %s -> %s: %v", got[0].from, got[0].to, got[0].msg)
	}

	// Garbage is ignored; a forwarded name is answered later.
	d.Handle(client, server, []byte("not DNS"))
	fwd := query("example.org.", mdns.TypeA)
	d.Handle(client, server, pack(fwd))
	eventually(t, "the forwarded answer", func() bool { return len(sink.all()) == 2 })
	if a := sink.all()[1]; a.msg.Id != fwd.Id || len(a.msg.Answer) != 1 {
		t.Errorf("forwarded answer: %v", a.msg)
	}
	if st := f.srv.Stats(); st.Malformed != 1 || st.Answered != 1 || st.Forwarded != 1 {
		t.Errorf("stats = %+v", st)
	}

	// Closed: nothing more is answered.
	d.Close()
	d.Handle(client, server, pack(own))
	if n := len(sink.all()); n != 2 {
		t.Errorf("%d answers after Close, want 2", n)
	}
}

func TestDatagramsEndWithServer(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, dns.Config{})
	release := f.upstream.Hold()
	defer release()
	sink := &datagramSink{}
	d, err := f.srv.ServeDatagrams(context.Background(), sink.send)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := query("example.org.", mdns.TypeA).Pack()
	d.Handle(netip.MustParseAddrPort("100.64.0.1:40000"), netip.MustParseAddrPort("100.64.0.2:53"), b)
	<-f.upstream.Arrived()
	// Server.Close abandons the held query and returns; the Datagrams
	// is closed with it.
	f.srv.Close()
	if _, err := f.srv.ServeDatagrams(context.Background(), sink.send); err == nil {
		t.Error("ServeDatagrams after Close: want ErrServerClosed")
	}
}
