package dns_test

import (
	"context"
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
