package dns_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/dns/dnstest"
)

// fixture is a server over a fake resolver that owns tcp-app.company.test
// (IPv4 and IPv6), v4only.company.test, mapped.company.test (an
// IPv4-mapped address) and the whole company.test zone, and a fake
// upstream that knows example.org.
type fixture struct {
	srv      *dns.Server
	resolver *dnstest.Resolver
	upstream *dnstest.Upstream
}

func newFixture(t testing.TB, cfg dns.Config) *fixture {
	t.Helper()
	r := dnstest.NewResolver()
	r.AddZone("company.test")
	r.Set("tcp-app.company.test", dns.Answer{
		Addrs: []netip.Addr{netip.MustParseAddr("100.64.0.5"), netip.MustParseAddr("fd00::5")},
		TTL:   10,
	})
	r.Set("v4only.company.test", dns.Answer{Addrs: []netip.Addr{netip.MustParseAddr("100.64.0.6")}, TTL: 10})
	r.Set("mapped.company.test", dns.Answer{Addrs: []netip.Addr{netip.MustParseAddr("::ffff:100.64.0.7")}, TTL: 10})
	u := dnstest.NewUpstream()
	u.AddRR("example.org. 300 IN A 192.0.2.1")
	u.AddRR("example.org. 300 IN MX 10 mail.example.org.")
	cfg.Resolver, cfg.Upstream = r, u
	srv, err := dns.NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return &fixture{srv: srv, resolver: r, upstream: u}
}

func query(name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// rrStrings returns the records in zone-file form, sorted.
func rrStrings(rrs []mdns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

// canonRRs parses records written by hand into the form rrStrings gives.
func canonRRs(t *testing.T, in []string) []string {
	t.Helper()
	out := make([]string, 0, len(in))
	for _, s := range in {
		rr, err := mdns.NewRR(s)
		if err != nil {
			t.Fatalf("bad expected record %q: %v", s, err)
		}
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

func TestHandle(t *testing.T) {
	f := newFixture(t, dns.Config{})
	tests := []struct {
		name   string
		Qname  string
		Qtype  uint16
		Qclass uint16 // default IN
		Rcode  int
		AA     bool
		Answer []string
	}{
		{name: "owned A", Qname: "tcp-app.company.test.", Qtype: mdns.TypeA, AA: true,
			Answer: []string{"tcp-app.company.test. 10 IN A 100.64.0.5"}},
		{name: "owned AAAA", Qname: "tcp-app.company.test.", Qtype: mdns.TypeAAAA, AA: true,
			Answer: []string{"tcp-app.company.test. 10 IN AAAA fd00::5"}},
		{name: "owned A keeps question casing", Qname: "TCP-App.Company.TEST.", Qtype: mdns.TypeA, AA: true,
			Answer: []string{"TCP-App.Company.TEST. 10 IN A 100.64.0.5"}},
		{name: "owned A without trailing dot", Qname: "tcp-app.company.test", Qtype: mdns.TypeA, AA: true,
			Answer: []string{"tcp-app.company.test. 10 IN A 100.64.0.5"}},
		{name: "owned ANY gives both families", Qname: "tcp-app.company.test.", Qtype: mdns.TypeANY, AA: true,
			Answer: []string{"tcp-app.company.test. 10 IN A 100.64.0.5", "tcp-app.company.test. 10 IN AAAA fd00::5"}},
		{name: "owned AAAA without IPv6 is NODATA", Qname: "v4only.company.test.", Qtype: mdns.TypeAAAA, AA: true},
		{name: "owned MX is NODATA", Qname: "tcp-app.company.test.", Qtype: mdns.TypeMX, AA: true},
		{name: "owned TXT is NODATA", Qname: "tcp-app.company.test.", Qtype: mdns.TypeTXT, AA: true},
		{name: "name in zone without app is NODATA not NXDOMAIN", Qname: "nothing.company.test.", Qtype: mdns.TypeA, AA: true},
		{name: "deep name in zone is NODATA", Qname: "a.b.c.company.test.", Qtype: mdns.TypeAAAA, AA: true},
		{name: "mapped IPv6 counts as IPv4", Qname: "mapped.company.test.", Qtype: mdns.TypeA, AA: true,
			Answer: []string{"mapped.company.test. 10 IN A 100.64.0.7"}},
		{name: "mapped IPv6 is not AAAA", Qname: "mapped.company.test.", Qtype: mdns.TypeAAAA, AA: true},
		{name: "owned name in class CH is NODATA", Qname: "tcp-app.company.test.", Qtype: mdns.TypeA, Qclass: mdns.ClassCHAOS, AA: true},
		{name: "forwarded A", Qname: "example.org.", Qtype: mdns.TypeA,
			Answer: []string{"example.org. 300 IN A 192.0.2.1"}},
		{name: "forwarded MX", Qname: "Example.ORG.", Qtype: mdns.TypeMX,
			Answer: []string{"example.org. 300 IN MX 10 mail.example.org."}},
		{name: "suffix look-alike is forwarded", Qname: "notcompany.test.", Qtype: mdns.TypeA, Rcode: mdns.RcodeNameError},
		{name: "forwarded NXDOMAIN", Qname: "nope.example.", Qtype: mdns.TypeA, Rcode: mdns.RcodeNameError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := query(tc.Qname, tc.Qtype)
			if tc.Qclass != 0 {
				req.Question[0].Qclass = tc.Qclass
			}
			req.Id = 4242
			resp := f.srv.Handle(context.Background(), req)
			if resp == nil {
				t.Fatal("no response")
			}
			if resp.Id != req.Id || !resp.Response {
				t.Errorf("id=%d response=%v, want id=%d response=true", resp.Id, resp.Response, req.Id)
			}
			if resp.Rcode != tc.Rcode {
				t.Errorf("rcode = %s, want %s", mdns.RcodeToString[resp.Rcode], mdns.RcodeToString[tc.Rcode])
			}
			if resp.Authoritative != tc.AA {
				t.Errorf("AA = %v, want %v", resp.Authoritative, tc.AA)
			}
			if got, want := rrStrings(resp.Answer), canonRRs(t, tc.Answer); !slices.Equal(got, want) {
				t.Errorf("answer =\n%q\nwant\n%q", got, want)
			}
			if len(resp.Question) != 1 || resp.Question[0].Name != mdns.Fqdn(tc.Qname) {
				t.Errorf("question = %v, want the client's %q", resp.Question, tc.Qname)
			}
			if _, err := resp.Pack(); err != nil {
				t.Errorf("answer does not pack: %v", err)
			}
		})
	}
}

func TestHandleNormalisesForResolverAndKeepsOwnedNamesLocal(t *testing.T) {
	f := newFixture(t, dns.Config{})
	for _, name := range []string{"TCP-APP.company.test.", "tcp-app.COMPANY.test", "Other.Company.Test."} {
		f.srv.Handle(context.Background(), query(name, mdns.TypeA))
	}
	want := []dnstest.Query{
		{Name: "tcp-app.company.test", Qtype: mdns.TypeA},
		{Name: "tcp-app.company.test", Qtype: mdns.TypeA},
		{Name: "other.company.test", Qtype: mdns.TypeA},
	}
	if got := f.resolver.Calls(); !slices.Equal(got, want) {
		t.Errorf("resolver calls = %v, want %v", got, want)
	}
	if calls := f.upstream.Calls(); len(calls) != 0 {
		t.Errorf("owned names leaked upstream: %v", calls)
	}
}

func TestHandleUpstreamFailureIsServfail(t *testing.T) {
	f := newFixture(t, dns.Config{})
	f.upstream.Fail(errors.New("upstream down"))
	resp := f.srv.Handle(context.Background(), query("example.org.", mdns.TypeA))
	if resp == nil || resp.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("got %v, want SERVFAIL", resp)
	}
	if got := f.srv.Stats().Failed; got != 1 {
		t.Errorf("Stats().Failed = %d, want 1", got)
	}
}

func TestHandleRelaysWithClientID(t *testing.T) {
	up := dns.UpstreamFunc(func(_ context.Context, q *mdns.Msg) (*mdns.Msg, error) {
		m := new(mdns.Msg)
		m.SetReply(q)
		m.Id = q.Id + 1 // a forwarder's own ID leaking through
		return m, nil
	})
	srv, err := dns.NewServer(dns.Config{Resolver: dnstest.NewResolver(), Upstream: up})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	req := query("example.org.", mdns.TypeA)
	if resp := srv.Handle(context.Background(), req); resp == nil || resp.Id != req.Id {
		t.Fatalf("got %v, want id %d", resp, req.Id)
	}
}

func TestHandleMalformed(t *testing.T) {
	f := newFixture(t, dns.Config{})
	tests := []struct {
		name  string
		req   func() *mdns.Msg
		Rcode int // -1: no answer at all
		OPT   bool
	}{
		{name: "no question", Rcode: mdns.RcodeFormatError, req: func() *mdns.Msg {
			m := query("example.org.", mdns.TypeA)
			m.Question = nil
			return m
		}},
		{name: "two questions", Rcode: mdns.RcodeFormatError, req: func() *mdns.Msg {
			m := query("example.org.", mdns.TypeA)
			m.Question = append(m.Question, mdns.Question{Name: "tcp-app.company.test.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET})
			return m
		}},
		{name: "opcode UPDATE", Rcode: mdns.RcodeNotImplemented, req: func() *mdns.Msg {
			m := new(mdns.Msg)
			m.SetUpdate("company.test.")
			return m
		}},
		{name: "opcode NOTIFY", Rcode: mdns.RcodeNotImplemented, req: func() *mdns.Msg {
			m := query("company.test.", mdns.TypeSOA)
			m.Opcode = mdns.OpcodeNotify
			return m
		}},
		{name: "a response is not answered", Rcode: -1, req: func() *mdns.Msg {
			m := query("example.org.", mdns.TypeA)
			m.Response = true
			return m
		}},
		{name: "EDNS version 1 is BADVERS", Rcode: mdns.RcodeBadVers, OPT: true, req: func() *mdns.Msg {
			m := query("tcp-app.company.test.", mdns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return m
		}},
		{name: "two OPT records", Rcode: mdns.RcodeFormatError, req: func() *mdns.Msg {
			m := query("tcp-app.company.test.", mdns.TypeA)
			m.SetEdns0(1232, false)
			m.SetEdns0(4096, false)
			return m
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req()
			resp := f.srv.Handle(context.Background(), req)
			if tc.Rcode == -1 {
				if resp != nil {
					t.Fatalf("got an answer %v, want none", resp)
				}
				return
			}
			if resp == nil {
				t.Fatal("no answer")
			}
			// Through the wire, as a client sees it: extended rcodes
			// live half in the OPT record.
			b, err := resp.Pack()
			if err != nil {
				t.Fatalf("pack: %v", err)
			}
			got := new(mdns.Msg)
			if err := got.Unpack(b); err != nil {
				t.Fatalf("unpack: %v", err)
			}
			if got.Rcode != tc.Rcode || got.Id != req.Id {
				t.Errorf("rcode=%s id=%d, want %s id=%d", mdns.RcodeToString[got.Rcode], got.Id, mdns.RcodeToString[tc.Rcode], req.Id)
			}
			if (got.IsEdns0() != nil) != tc.OPT {
				t.Errorf("OPT present = %v, want %v", got.IsEdns0() != nil, tc.OPT)
			}
			if len(got.Answer) != 0 {
				t.Errorf("answer = %v, want none", got.Answer)
			}
		})
	}
	if calls := f.upstream.Calls(); len(calls) != 0 {
		t.Errorf("malformed queries went upstream: %v", calls)
	}
}

func TestHandleEchoesEDNS(t *testing.T) {
	f := newFixture(t, dns.Config{})
	req := query("tcp-app.company.test.", mdns.TypeA)
	req.SetEdns0(4096, true)
	resp := f.srv.Handle(context.Background(), req)
	opt := resp.IsEdns0()
	if opt == nil || !opt.Do() || opt.Version() != 0 {
		t.Fatalf("OPT = %v, want one with DO and version 0", opt)
	}
	plain := f.srv.Handle(context.Background(), query("tcp-app.company.test.", mdns.TypeA))
	if plain.IsEdns0() != nil {
		t.Errorf("OPT in answer to a query without one (RFC 6891 section 7)")
	}
}

func TestNewServerRequiresDependencies(t *testing.T) {
	tests := []struct {
		name string
		cfg  dns.Config
	}{
		{name: "no resolver", cfg: dns.Config{Upstream: dnstest.NewUpstream()}},
		{name: "no upstream", cfg: dns.Config{Resolver: dnstest.NewResolver()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := dns.NewServer(tc.cfg); err == nil {
				t.Fatal("NewServer succeeded, want an error")
			}
		})
	}
}

// TestNODATACarriesSOA: an owned name without records of the asked type
// gets the zone's SOA in authority, with the answer's TTL as its minimum,
// so caches keep the negative answer briefly (RFC 2308).
func TestNODATACarriesSOA(t *testing.T) {
	f := newFixture(t, dns.Config{})
	f.resolver.Set("zoned.company.test", dns.Answer{Addrs: []netip.Addr{netip.MustParseAddr("100.64.0.9")}, TTL: 7, Zone: "company.test"})
	for _, tc := range []struct {
		name    string
		qtype   uint16
		answers int
		soa     bool
	}{
		{"A has the record and no SOA", mdns.TypeA, 1, false},
		{"AAAA is NODATA with SOA", mdns.TypeAAAA, 0, true},
		{"TXT is NODATA with SOA", mdns.TypeTXT, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.srv.Handle(context.Background(), query("zoned.company.test.", tc.qtype))
			if resp.Rcode != mdns.RcodeSuccess || len(resp.Answer) != tc.answers {
				t.Fatalf("rcode %s, %d answers", mdns.RcodeToString[resp.Rcode], len(resp.Answer))
			}
			if !tc.soa {
				if len(resp.Ns) != 0 {
					t.Fatalf("authority = %v, want none", resp.Ns)
				}
				return
			}
			if len(resp.Ns) != 1 {
				t.Fatalf("authority = %v, want one SOA", resp.Ns)
			}
			soa, ok := resp.Ns[0].(*mdns.SOA)
			if !ok || soa.Hdr.Name != "company.test." || soa.Minttl != 7 || soa.Hdr.Ttl != 7 {
				t.Fatalf("authority = %v, want SOA of company.test. with TTL and minimum 7", resp.Ns[0])
			}
		})
	}
}
