package dns_test

import (
	"context"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/dns/dnstest"
)

func TestNegativeCache(t *testing.T) {
	up := dnstest.NewUpstream()
	up.AddRR("company.test. 60 IN SOA ns.company.test. h.company.test. 1 60 60 60 30")
	up.AddRR("real.company.test. 60 IN A 192.0.2.7")
	inZone := func(name string) bool { return strings.HasSuffix(name, ".company.test") }
	c := dns.NewNegativeCache(up, inZone, 5*time.Second)
	ctx := context.Background()

	ask := func(name string) *mdns.Msg {
		t.Helper()
		q := new(mdns.Msg)
		q.SetQuestion(name, mdns.TypeA)
		resp, err := c.Exchange(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Id != q.Id {
			t.Fatalf("answer id %d, query id %d", resp.Id, q.Id)
		}
		return resp
	}
	calls := func() int { return len(up.Calls()) }

	for _, tc := range []struct {
		name       string
		qname      string
		wantRcode  int
		wantCalls  int // upstream calls after this step
		wantCached int
	}{
		{"miss in zone goes upstream", "nope.company.test.", mdns.RcodeNameError, 1, 1},
		{"second ask is cached", "NOPE.company.test.", mdns.RcodeNameError, 1, 1},
		{"positive answers are not cached", "real.company.test.", mdns.RcodeSuccess, 2, 1},
		{"positive again goes upstream", "real.company.test.", mdns.RcodeSuccess, 3, 1},
		{"out of scope is never cached", "nope.elsewhere.test.", mdns.RcodeNameError, 4, 1},
		{"out of scope again goes upstream", "nope.elsewhere.test.", mdns.RcodeNameError, 5, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := ask(tc.qname)
			if resp.Rcode != tc.wantRcode {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[resp.Rcode], mdns.RcodeToString[tc.wantRcode])
			}
			if resp.Question[0].Name != tc.qname {
				t.Fatalf("question %q, want the asker's %q", resp.Question[0].Name, tc.qname)
			}
			if calls() != tc.wantCalls || c.Len() != tc.wantCached {
				t.Fatalf("upstream calls %d, cached %d; want %d, %d", calls(), c.Len(), tc.wantCalls, tc.wantCached)
			}
		})
	}
	c.Flush()
	ask("nope.company.test.")
	if calls() != 6 {
		t.Fatalf("after Flush: upstream calls %d, want 6", calls())
	}
}
