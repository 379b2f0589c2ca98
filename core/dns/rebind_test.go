package dns_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/dns/dnstest"
)

// vnetAddrs is the predicate of these tests: one cluster range and one
// ULA prefix.
func vnetAddrs(a netip.Addr) bool {
	return netip.MustParsePrefix("100.64.0.0/10").Contains(a) ||
		netip.MustParsePrefix("fd12:3456:789a::/64").Contains(a)
}

func TestRebindGuard(t *testing.T) {
	up := dnstest.NewUpstream()
	for _, rr := range []string{
		"good.test. 60 IN A 192.0.2.1",
		"good.test. 60 IN AAAA 2001:db8::1",
		"evil.test. 60 IN A 100.64.1.1",
		"evil6.test. 60 IN AAAA fd12:3456:789a::640:101",
		"other-ula.test. 60 IN AAAA fd99::1",
		"mapped.test. 60 IN AAAA ::ffff:100.64.1.1",
		"mixed.test. 60 IN A 192.0.2.2",
		"mixed.test. 60 IN A 100.127.255.254",
		"mixed.test. 60 IN AAAA 2001:db8::2",
		"mixed.test. 60 IN AAAA fd12:3456:789a::1",
		"mixed.test. 60 IN MX 10 mail.good.test.",
		"edge.test. 60 IN A 100.128.0.0", // just past the range
		"www.evil.test. 60 IN CNAME hop.evil.test.",
		"hop.evil.test. 60 IN CNAME evil.test.",
		"www6.evil.test. 60 IN CNAME evil6.test.",
		"www.good.test. 60 IN CNAME good.test.",
	} {
		up.AddRR(rr)
	}
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		wantRcode int
		want      []string // remaining answer records, "owner type rdata"
		wantLog   bool
	}{
		{name: "a good A passes", qname: "good.test.", qtype: mdns.TypeA,
			want: []string{"good.test. A 192.0.2.1"}},
		{name: "a good AAAA passes", qname: "good.test.", qtype: mdns.TypeAAAA,
			want: []string{"good.test. AAAA 2001:db8::1"}},
		{name: "A into a range: no answer", qname: "evil.test.", qtype: mdns.TypeA,
			wantLog: true},
		{name: "AAAA into the ULA: no answer", qname: "evil6.test.", qtype: mdns.TypeAAAA,
			wantLog: true},
		{name: "IPv4-mapped AAAA into a range: no answer", qname: "mapped.test.", qtype: mdns.TypeAAAA,
			wantLog: true},
		{name: "another ULA passes", qname: "other-ula.test.", qtype: mdns.TypeAAAA,
			want: []string{"other-ula.test. AAAA fd99::1"}},
		{name: "first address past the range passes", qname: "edge.test.", qtype: mdns.TypeA,
			want: []string{"edge.test. A 100.128.0.0"}},
		{name: "mixed A: the good one stays", qname: "mixed.test.", qtype: mdns.TypeA,
			want: []string{"mixed.test. A 192.0.2.2"}, wantLog: true},
		{name: "mixed AAAA: the good one stays", qname: "mixed.test.", qtype: mdns.TypeAAAA,
			want: []string{"mixed.test. AAAA 2001:db8::2"}, wantLog: true},
		{name: "mixed ANY: only the bad addresses go", qname: "mixed.test.", qtype: mdns.TypeANY,
			want: []string{
				"mixed.test. A 192.0.2.2",
				"mixed.test. AAAA 2001:db8::2",
				"mixed.test. MX 10 mail.good.test.",
			}, wantLog: true},
		{name: "CNAME chain ending in a range: no answer, chain dropped too", qname: "www.evil.test.", qtype: mdns.TypeA,
			wantLog: true},
		{name: "CNAME chain ending in the ULA: no answer", qname: "WWW6.Evil.Test.", qtype: mdns.TypeAAAA,
			wantLog: true},
		{name: "good CNAME chain passes", qname: "www.good.test.", qtype: mdns.TypeA,
			want: []string{"www.good.test. CNAME good.test.", "good.test. A 192.0.2.1"}},
		{name: "NXDOMAIN passes with its rcode", qname: "nope.test.", qtype: mdns.TypeA,
			wantRcode: mdns.RcodeNameError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			g := dns.NewRebindGuard(up, vnetAddrs, slog.New(slog.NewTextHandler(&logs, nil)))
			q := query(tc.qname, tc.qtype)
			resp, err := g.Exchange(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Rcode != tc.wantRcode {
				t.Errorf("rcode %s, want %s", mdns.RcodeToString[resp.Rcode], mdns.RcodeToString[tc.wantRcode])
			}
			if resp.Id != q.Id {
				t.Errorf("id %d, want the query's %d", resp.Id, q.Id)
			}
			if got := brief(resp.Answer); !slices.Equal(got, tc.want) {
				t.Errorf("answer:\n  got  %q\n  want %q", got, tc.want)
			}
			if logged := strings.Contains(logs.String(), "name="+tc.qname); logged != tc.wantLog {
				t.Errorf("drop logged = %v, want %v; log: %s", logged, tc.wantLog, logs.String())
			}
		})
	}
}

// TestRebindGuardOtherSections: VNet's addresses leave the authority and
// additional sections too, with the signatures over RRsets that lost a
// record; the EDNS OPT and other records stay.
func TestRebindGuardOtherSections(t *testing.T) {
	rrs := func(ss ...string) []mdns.RR {
		var out []mdns.RR
		for _, s := range ss {
			rr, err := mdns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, rr)
		}
		return out
	}
	const sig = " 60 IN RRSIG %s 13 2 60 20300101000000 20200101000000 1234 good.test. AAAA"
	up := dns.UpstreamFunc(func(_ context.Context, q *mdns.Msg) (*mdns.Msg, error) {
		m := new(mdns.Msg)
		m.SetReply(q)
		m.Answer = rrs(
			"good.test. 60 IN A 192.0.2.1",
			"good.test. 60 IN A 100.64.0.9",
			strings.Replace("good.test."+sig, "%s", "A", 1),
		)
		m.Ns = rrs(
			"good.test. 60 IN NS ns.good.test.",
			"good.test. 60 IN NS ns.evil.test.",
		)
		m.Extra = rrs(
			"ns.good.test. 60 IN A 192.0.2.53",
			"ns.good.test. 60 IN AAAA 2001:db8::53",
			strings.Replace("ns.good.test."+sig, "%s", "AAAA", 1),
			"ns.evil.test. 60 IN A 100.64.0.53",
			strings.Replace("ns.evil.test."+sig, "%s", "A", 1),
		)
		m.SetEdns0(1232, true)
		return m, nil
	})
	g := dns.NewRebindGuard(up, vnetAddrs, slog.New(slog.DiscardHandler))
	resp, err := g.Exchange(context.Background(), query("good.test.", mdns.TypeA))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		section   string
		got, want []string
	}{
		{"answer", brief(resp.Answer), []string{"good.test. A 192.0.2.1"}},
		{"authority", brief(resp.Ns), []string{"good.test. NS ns.good.test.", "good.test. NS ns.evil.test."}},
		{"additional", brief(resp.Extra), []string{
			"ns.good.test. A 192.0.2.53",
			"ns.good.test. AAAA 2001:db8::53",
			"ns.good.test. RRSIG AAAA 13 2 60 20300101000000 20200101000000 1234 good.test. AAAA",
			"OPT",
		}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s:\n  got  %q\n  want %q", c.section, c.got, c.want)
		}
	}
}

// TestRebindGuardStrayAddress: an address record that is not for the
// question's name (nor for its CNAME chain) does not keep a filtered
// answer alive.
func TestRebindGuardStrayAddress(t *testing.T) {
	up := dns.UpstreamFunc(func(_ context.Context, q *mdns.Msg) (*mdns.Msg, error) {
		m := new(mdns.Msg)
		m.SetReply(q)
		for _, s := range []string{
			"a.test. 60 IN CNAME b.test.",
			"b.test. 60 IN A 100.64.0.1",
			"stray.test. 60 IN A 192.0.2.9",
		} {
			rr, _ := mdns.NewRR(s)
			m.Answer = append(m.Answer, rr)
		}
		return m, nil
	})
	g := dns.NewRebindGuard(up, vnetAddrs, slog.New(slog.DiscardHandler))
	resp, err := g.Exchange(context.Background(), query("a.test.", mdns.TypeA))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Answer) != 0 || resp.Rcode != mdns.RcodeSuccess {
		t.Errorf("%s with %q, want NOERROR and no answer", mdns.RcodeToString[resp.Rcode], brief(resp.Answer))
	}
}

// TestRebindGuardGlueOnly: an answer of another type keeps its records
// when only an additional-section address went.
func TestRebindGuardGlueOnly(t *testing.T) {
	up := dns.UpstreamFunc(func(_ context.Context, q *mdns.Msg) (*mdns.Msg, error) {
		m := new(mdns.Msg)
		m.SetReply(q)
		mx, _ := mdns.NewRR("good.test. 60 IN MX 10 mail.good.test.")
		glue, _ := mdns.NewRR("mail.good.test. 60 IN A 100.64.0.25")
		m.Answer, m.Extra = []mdns.RR{mx}, []mdns.RR{glue}
		return m, nil
	})
	g := dns.NewRebindGuard(up, vnetAddrs, slog.New(slog.DiscardHandler))
	resp, err := g.Exchange(context.Background(), query("good.test.", mdns.TypeMX))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := brief(resp.Answer), []string{"good.test. MX 10 mail.good.test."}; !slices.Equal(got, want) {
		t.Errorf("answer %q, want %q", got, want)
	}
	if len(resp.Extra) != 0 {
		t.Errorf("additional %q, want the glue into VNet gone", brief(resp.Extra))
	}
}

// TestRebindGuardOverTCP: an answer the Forwarder had to fetch again over
// TCP (the UDP one was truncated) is filtered like any other.
func TestRebindGuardOverTCP(t *testing.T) {
	srv := startUpstream(t, func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		if !isTCP(w) {
			m.Truncated = true
			w.WriteMsg(m)
			return
		}
		for _, ip := range []string{"192.0.2.7", "100.64.7.7"} {
			rr, _ := mdns.NewRR(q.Question[0].Name + " 60 IN A " + ip)
			if q.Question[0].Name == "all-bad.test." && ip == "192.0.2.7" {
				continue
			}
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})
	g := dns.NewRebindGuard(newForwarder(t, 0, srv), vnetAddrs, slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		qname string
		want  []string
	}{
		{"mixed.test.", []string{"mixed.test. A 192.0.2.7"}},
		{"all-bad.test.", nil},
	} {
		t.Run(tc.qname, func(t *testing.T) {
			resp, err := g.Exchange(context.Background(), query(tc.qname, mdns.TypeA))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Truncated {
				t.Fatal("got the truncated UDP answer, want the one fetched over TCP")
			}
			if got := brief(resp.Answer); !slices.Equal(got, tc.want) || resp.Rcode != mdns.RcodeSuccess {
				t.Errorf("%s with %q, want NOERROR with %q", mdns.RcodeToString[resp.Rcode], got, tc.want)
			}
		})
	}
}

// TestServerRebindGuard: behind the server, a forwarded name loses its
// VNet address while VNet's own name, which carries one, is untouched.
func TestServerRebindGuard(t *testing.T) {
	r := dnstest.NewResolver()
	r.Set("tcp-app.company.test", dns.Answer{Addrs: []netip.Addr{netip.MustParseAddr("100.64.0.5")}, TTL: 10})
	up := dnstest.NewUpstream()
	up.AddRR("example.org. 60 IN A 192.0.2.1")
	up.AddRR("evil.example.org. 60 IN A 100.64.0.5")
	srv, err := dns.NewServer(dns.Config{
		Resolver: r,
		Upstream: dns.NewRebindGuard(up, vnetAddrs, slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, tc := range []struct {
		qname string
		want  []string
	}{
		{"evil.example.org.", nil},
		{"example.org.", []string{"example.org. A 192.0.2.1"}},
		{"tcp-app.company.test.", []string{"tcp-app.company.test. A 100.64.0.5"}},
	} {
		t.Run(tc.qname, func(t *testing.T) {
			resp := srv.Handle(context.Background(), query(tc.qname, mdns.TypeA))
			if got := brief(resp.Answer); !slices.Equal(got, tc.want) || resp.Rcode != mdns.RcodeSuccess {
				t.Errorf("%s with %q, want NOERROR with %q", mdns.RcodeToString[resp.Rcode], got, tc.want)
			}
		})
	}
}

// brief is each record as "owner type rdata", without TTL and class, in
// order; the OPT pseudo-record is just "OPT".
func brief(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == mdns.TypeOPT {
			out = append(out, "OPT")
			continue
		}
		rdata := strings.TrimPrefix(rr.String(), h.String())
		out = append(out, strings.ToLower(h.Name)+" "+mdns.TypeToString[h.Rrtype]+" "+rdata)
	}
	return out
}
