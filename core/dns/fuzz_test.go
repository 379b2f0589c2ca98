package dns_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
)

// FuzzHandle feeds arbitrary bytes through Unpack and Handle, as ServeUDP
// does, and checks the answer is well formed. Crashers found by fuzzing
// belong in testdata/fuzz/FuzzHandle as named regression seeds.
func FuzzHandle(f *testing.F) {
	seed := func(m *mdns.Msg) {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(query("tcp-app.company.test.", mdns.TypeA))
	seed(query("TCP-APP.Company.Test.", mdns.TypeAAAA))
	seed(query("nothing.company.test.", mdns.TypeMX))
	seed(query("example.org.", mdns.TypeA))
	seed(query(".", mdns.TypeNS))
	edns := query("mapped.company.test.", mdns.TypeANY)
	edns.SetEdns0(4096, true)
	seed(edns)
	badvers := query("tcp-app.company.test.", mdns.TypeA)
	badvers.SetEdns0(512, false)
	badvers.IsEdns0().SetVersion(3)
	seed(badvers)
	update := new(mdns.Msg)
	update.SetUpdate("company.test.")
	seed(update)
	f.Add([]byte{})
	f.Add([]byte("not dns"))
	f.Add([]byte{0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1})
	f.Add(make([]byte, 12)) // valid header, no question

	fx := newFixture(f, dns.Config{})
	f.Fuzz(func(t *testing.T, b []byte) {
		req := new(mdns.Msg)
		if err := req.Unpack(b); err != nil {
			return
		}
		resp := fx.srv.Handle(context.Background(), req)
		if resp == nil {
			if !req.Response {
				t.Fatalf("no answer to a query: %v", req)
			}
			return
		}
		if resp.Id != req.Id || !resp.Response {
			t.Fatalf("answer id=%d qr=%v to query id=%d", resp.Id, resp.Response, req.Id)
		}
		// What ServeUDP does next must not panic either.
		resp.Truncate(512)
		resp.Pack()
	})
}

// FuzzRebindGuard hands arbitrary upstream answers to a RebindGuard: it
// must not panic, and nothing it passes on may hold one of VNet's
// addresses.
func FuzzRebindGuard(f *testing.F) {
	for _, rrs := range [][]string{
		{"a.test. 60 IN A 100.64.1.1"},
		{"a.test. 60 IN A 192.0.2.1", "a.test. 60 IN AAAA fd12:3456:789a::1"},
		{"a.test. 60 IN CNAME b.test.", "b.test. 60 IN A 100.64.0.9"},
		{"a.test. 60 IN AAAA ::ffff:100.64.0.9"},
	} {
		m := query("a.test.", mdns.TypeA)
		m.Response = true
		for _, s := range rrs {
			rr, err := mdns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
			m.Extra = append(m.Extra, mdns.Copy(rr))
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		canned := new(mdns.Msg)
		if err := canned.Unpack(b); err != nil {
			return
		}
		up := dns.UpstreamFunc(func(context.Context, *mdns.Msg) (*mdns.Msg, error) { return canned.Copy(), nil })
		g := dns.NewRebindGuard(up, vnetAddrs, slog.New(slog.DiscardHandler))
		resp, err := g.Exchange(context.Background(), canned)
		if err != nil {
			t.Fatal(err)
		}
		for _, rr := range slices.Concat(resp.Answer, resp.Ns, resp.Extra) {
			var ip net.IP
			switch rr := rr.(type) {
			case *mdns.A:
				ip = rr.A
			case *mdns.AAAA:
				ip = rr.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok && vnetAddrs(a.Unmap()) {
				t.Fatalf("passed on %s", rr)
			}
		}
		resp.Pack()
	})
}
