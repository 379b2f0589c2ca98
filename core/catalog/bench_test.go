package catalog

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/vnetproject/vnet/core/api"
)

// scaleCluster is a cluster of n apps named app000000... under
// proxy.test.
func scaleCluster(n int) Cluster {
	c := Cluster{ID: "proxy.test:3080", Via: "proxy.test:3080", Name: "root", ProxyHost: "proxy.test", IPv4Range: netip.MustParsePrefix("100.64.0.0/10")}
	c.Apps = make([]App, n)
	for i := range c.Apps {
		c.Apps[i] = App{Name: fmt.Sprintf("app%06d", i)}
	}
	return c
}

// BenchmarkLookup: a name looked up in a catalog of 100,000 apps (random
// names) vs one of a single app (issue 13: a scan per lookup made the
// first 4 times slower than the second at 20,000 apps).
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1, 100000} {
		b.Run(fmt.Sprintf("apps=%d", n), func(b *testing.B) {
			s := NewSnapshot([]Cluster{scaleCluster(n)})
			names := make([]string, 1024)
			for i := range names {
				names[i] = fmt.Sprintf("app%06d.proxy.test", rand.IntN(n))
			}
			b.ResetTimer()
			for i := range b.N {
				if _, ok := s.Lookup(names[i%len(names)]); !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}

// BenchmarkApplyDelta: one app added to a view of 100,000 apps, up to the
// snapshot VNet serves (apply, offer, NewSnapshot).
func BenchmarkApplyDelta(b *testing.B) {
	const n = 100000
	v := &deltaView{}
	full := &api.CatalogUpdate{Revision: 1, Resync: true, Config: &api.VNetConfig{Ipv4CidrRange: "100.64.0.0/10"},
		Apps: &api.ListAppsResponse{ClusterName: "root", ProxyPublicAddr: "proxy.test:3080"}}
	for i := range n {
		full.Apps.Apps = append(full.Apps.Apps, &api.App{Name: fmt.Sprintf("app%06d", i)})
	}
	if _, err := v.apply(full); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		u := &api.CatalogUpdate{Revision: int64(i + 2), Apps: &api.ListAppsResponse{ClusterName: "root", ProxyPublicAddr: "proxy.test:3080",
			Apps: []*api.App{{Name: fmt.Sprintf("added%d", i)}}}}
		if _, err := v.apply(u); err != nil {
			b.Fatal(err)
		}
		cl, err := v.offer()
		if err != nil {
			b.Fatal(err)
		}
		NewSnapshot(Identify("proxy.test:3080", cl))
	}
}
