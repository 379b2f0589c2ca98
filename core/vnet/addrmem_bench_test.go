package vnet

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/vnetproject/vnet/core/catalog"
)

// BenchmarkAddressBook: 100,000 apps given addresses (the first sync of a
// large catalog), then one app added (a sync per change); the heap the
// book holds, in MiB (issue 13).
func BenchmarkAddressBook(b *testing.B) {
	const n = 100000
	c := catalog.Cluster{ID: "p:1", Via: "p:1", Name: "root", ProxyHost: "proxy.test", IPv4Range: netip.MustParsePrefix("100.64.0.0/10")}
	for i := range n {
		c.Apps = append(c.Apps, catalog.App{Name: fmt.Sprintf("app%06d", i)})
	}
	snap := catalog.NewSnapshot([]catalog.Cluster{c})
	ranges, _ := snap.AcceptRanges(nil)
	c.Apps = append(c.Apps, catalog.App{Name: "added"})
	more := catalog.NewSnapshot([]catalog.Cluster{c})
	live := func() float64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapAlloc) / (1 << 20)
	}
	for range b.N {
		base := live()
		book := newAddressBook()
		book.secret = []byte("secret")
		if _, errs := book.sync(snap, ranges); len(errs) != 0 {
			b.Fatal(errs)
		}
		b.ReportMetric(live()-base, "book-MiB")
		if changes, _ := book.sync(more, ranges); changes.Len() != 1 {
			b.Fatalf("%d changes, want 1", changes.Len())
		}
		runtime.KeepAlive(book)
	}
}
