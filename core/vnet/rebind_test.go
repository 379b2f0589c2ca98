package vnet_test

import (
	"testing"

	mdns "github.com/miekg/dns"
)

// TestSystemRebindGuard: upstream answers that point into the cluster's
// range or the ULA prefix do not reach the client; other forwarded answers
// and VNet's own names are untouched.
func TestSystemRebindGuard(t *testing.T) {
	w := newWorld(t)
	w.upstream.AddRR("rebind.evil.test. 60 IN A 100.64.1.1")
	w.upstream.AddRR("rebind6.evil.test. 60 IN AAAA " + ula.Addr().Next().Next().Next().String())
	w.upstream.AddRR("fine.evil.test. 60 IN A 192.0.2.60")
	for _, tc := range []struct {
		name    string
		qname   string
		qtype   uint16
		answers int
	}{
		{"A into the range is removed", "rebind.evil.test.", mdns.TypeA, 0},
		{"AAAA into the ULA is removed", "rebind6.evil.test.", mdns.TypeAAAA, 0},
		{"an ordinary forwarded answer passes", "fine.evil.test.", mdns.TypeA, 1},
		{"VNet's own name keeps its address", "echo.company.test.", mdns.TypeA, 1},
		{"VNet's own name keeps its IPv6 address", "echo.company.test.", mdns.TypeAAAA, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := w.query(t, tc.qname, tc.qtype)
			if resp.Rcode != mdns.RcodeSuccess || len(resp.Answer) != tc.answers {
				t.Fatalf("rcode %s with %v, want NOERROR with %d answers", mdns.RcodeToString[resp.Rcode], resp.Answer, tc.answers)
			}
		})
	}
}
