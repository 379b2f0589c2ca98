package dns_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
)

// fastPathCase is a query and whether the fast path must answer it itself.
type fastPathCase struct {
	name string
	msg  func() *mdns.Msg
	fast bool
}

func fastPathCases() []fastPathCase {
	q := func(name string, qtype uint16, edit ...func(*mdns.Msg)) func() *mdns.Msg {
		return func() *mdns.Msg {
			m := query(name, qtype)
			m.Id = 0xbeef
			for _, e := range edit {
				e(m)
			}
			return m
		}
	}
	edns := func(size uint16, do bool) func(*mdns.Msg) { return func(m *mdns.Msg) { m.SetEdns0(size, do) } }
	return []fastPathCase{
		{"A of an app", q("tcp-app.company.test.", mdns.TypeA), true},
		{"AAAA of an app", q("tcp-app.company.test.", mdns.TypeAAAA), true},
		{"mixed case kept in the answer", q("TCP-App.Company.TEST.", mdns.TypeA), true},
		{"IPv4-mapped answers A", q("mapped.company.test.", mdns.TypeA), true},
		{"EDNS0", q("tcp-app.company.test.", mdns.TypeA, edns(4096, false)), true},
		{"EDNS0 with DO", q("tcp-app.company.test.", mdns.TypeAAAA, edns(1232, true)), true},
		{"EDNS0 below 512 counts as 512", q("tcp-app.company.test.", mdns.TypeA, edns(100, false)), true},
		{"no RD, CD set", q("tcp-app.company.test.", mdns.TypeA, func(m *mdns.Msg) { m.RecursionDesired = false; m.CheckingDisabled = true }), true},
		{"AD set (not echoed)", q("tcp-app.company.test.", mdns.TypeA, func(m *mdns.Msg) { m.AuthenticatedData = true }), true},
		{"many addresses with EDNS0", q("many.company.test.", mdns.TypeA, edns(4096, false)), true},
		{"underscore and digits", q("_x-1.company.test.", mdns.TypeA), true},

		// Left to the general path.
		{"many addresses: truncated", q("many.company.test.", mdns.TypeA), false},
		{"NODATA carries a SOA", q("v4only.company.test.", mdns.TypeAAAA), false},
		{"IPv4-mapped: NODATA for AAAA", q("mapped.company.test.", mdns.TypeAAAA), false},
		{"name in the zone without addresses", q("nothing.company.test.", mdns.TypeA), false},
		{"ANY", q("tcp-app.company.test.", mdns.TypeANY), false},
		{"MX", q("tcp-app.company.test.", mdns.TypeMX), false},
		{"class CHAOS", q("tcp-app.company.test.", mdns.TypeA, func(m *mdns.Msg) { m.Question[0].Qclass = mdns.ClassCHAOS }), false},
		{"forwarded name", q("example.org.", mdns.TypeA), false},
		{"a response", q("tcp-app.company.test.", mdns.TypeA, func(m *mdns.Msg) { m.Response = true }), false},
		{"opcode NOTIFY", q("tcp-app.company.test.", mdns.TypeA, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeNotify }), false},
		{"two questions", q("tcp-app.company.test.", mdns.TypeA, func(m *mdns.Msg) { m.Question = append(m.Question, m.Question[0]) }), false},
		{"EDNS0 version 1", q("tcp-app.company.test.", mdns.TypeA, edns(1232, false), func(m *mdns.Msg) { m.IsEdns0().SetVersion(1) }), false},
		{"EDNS0 option", q("tcp-app.company.test.", mdns.TypeA, edns(1232, false), func(m *mdns.Msg) {
			m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}), false},
		{"two OPT records", q("tcp-app.company.test.", mdns.TypeA, edns(1232, false), func(m *mdns.Msg) { m.Extra = append(m.Extra, m.Extra[0]) }), false},
		{"an escaped dot in a label", q(`a\.b.company.test.`, mdns.TypeA), false},
		{"the root", q(".", mdns.TypeA), false},
	}
}

// fastPathFixture is newFixture with a name that has more addresses than
// fit in 512 bytes.
func fastPathFixture(t testing.TB) *fixture {
	f := newFixture(t, dns.Config{})
	var many []netip.Addr
	for i := range 40 {
		many = append(many, netip.AddrFrom4([4]byte{100, 64, 1, byte(i)}))
	}
	f.resolver.Set("many.company.test", dns.Answer{Addrs: many, TTL: 10})
	f.resolver.Set("_x-1.company.test", dns.Answer{Addrs: many[:1], TTL: 10})
	return f
}

// TestFastPathMatchesSlowPath: for every query the fast path answers, its
// answer is byte for byte the general path's (Unpack, handleLocal, pack),
// so it obeys the same rules; what it must leave to the general path, it
// does (forwarded names included: VNet answers only its own).
func TestFastPathMatchesSlowPath(t *testing.T) {
	f := fastPathFixture(t)
	for _, tc := range fastPathCases() {
		t.Run(tc.name, func(t *testing.T) {
			pkt, err := tc.msg().Pack()
			if err != nil {
				t.Fatal(err)
			}
			fast, ok := dns.FastAnswer(f.srv, pkt)
			if ok != tc.fast {
				t.Fatalf("fast path took it: %v, want %v", ok, tc.fast)
			}
			if !ok {
				return
			}
			general := dns.GeneralAnswer(f.srv, pkt)
			if !bytes.Equal(fast, general) {
				t.Errorf("fast path answer differs from the general path's:\nfast    %x\ngeneral %x\n%v", fast, general, unpacked(fast))
			}
		})
	}
}

func unpacked(b []byte) string {
	m := new(mdns.Msg)
	if err := m.Unpack(b); err != nil {
		return fmt.Sprintf("(does not unpack: %v)", err)
	}
	return m.String()
}

// FuzzFastPath: whatever the bytes, the fast path does not panic, reads a
// query only as the general path reads it, and answers only what the
// general path answers, with the same bytes.
func FuzzFastPath(f *testing.F) {
	for _, tc := range fastPathCases() {
		if b, err := tc.msg().Pack(); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add(make([]byte, 12))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1})
	fx := fastPathFixture(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		name, qtype, ok := dns.ParseQuery(b)
		if ok {
			req := new(mdns.Msg)
			if err := req.Unpack(b); err != nil {
				t.Fatalf("the fast path read %x, which does not unpack: %v", b, err)
			}
			if len(req.Question) != 1 || dns.NormalizeName(req.Question[0].Name) != name || req.Question[0].Qtype != qtype {
				t.Fatalf("fast path read %q/%d, general path %v", name, qtype, req.Question)
			}
		}
		fast, ok := dns.FastAnswer(fx.srv, b)
		if !ok {
			return
		}
		if general := dns.GeneralAnswer(fx.srv, b); !bytes.Equal(fast, general) {
			t.Fatalf("query %x: fast answer %x, general %x", b, fast, general)
		}
	})
}
