package catalog

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/vnetproject/vnet/core/api"
)

func liveMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// BenchmarkCatalogMemory: the heap a laptop's catalog of 100,000 apps
// holds (the delta view and the snapshot served), in MiB.
func BenchmarkCatalogMemory(b *testing.B) {
	const n = 100000
	for range b.N {
		base := liveMiB()
		v := &deltaView{}
		full := &api.CatalogUpdate{Revision: 1, Resync: true, Config: &api.VNetConfig{Ipv4CidrRange: "100.64.0.0/10"},
			Apps: &api.ListAppsResponse{ClusterName: "root", ProxyPublicAddr: "proxy.test:3080"}}
		for i := range n {
			full.Apps.Apps = append(full.Apps.Apps, &api.App{Name: fmt.Sprintf("app%06d", i), Uri: "tcp://127.0.0.1:1", Labels: map[string]string{"env": "dev"}})
		}
		if _, err := v.apply(full); err != nil {
			b.Fatal(err)
		}
		full = nil
		view := liveMiB() - base
		cl, err := v.offer()
		if err != nil {
			b.Fatal(err)
		}
		s := NewSnapshot(Identify("proxy.test:3080", cl))
		all := liveMiB() - base
		b.ReportMetric(view, "view-MiB")
		b.ReportMetric(all, "total-MiB")
		runtime.KeepAlive(v)
		runtime.KeepAlive(cl)
		runtime.KeepAlive(s)
	}
}
