package vnet

import (
	"fmt"
	"net/netip"
	"sync"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/ipam"
)

// appRef names an app independently of catalog snapshots.
type appRef struct {
	Cluster string
	App     string
}

// addressBook gives apps their virtual IPs and finds the app behind an IP.
// Clusters that share a range share one allocator, so their apps never
// collide.
type addressBook struct {
	mu         sync.Mutex
	allocators map[netip.Prefix]*ipam.Allocator // guarded by mu
	byAddr     map[netip.Addr]appRef            // guarded by mu
}

func newAddressBook() *addressBook {
	return &addressBook{allocators: map[netip.Prefix]*ipam.Allocator{}, byAddr: map[netip.Addr]appRef{}}
}

// assign returns the app's IPv4 address in its cluster's range. The key
// includes the cluster so that the same name in two clusters gets two
// addresses, and is derived from the name, so the address is stable.
func (b *addressBook) assign(c *catalog.Cluster, a *catalog.App) (netip.Addr, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	alloc, ok := b.allocators[c.IPv4Range]
	if !ok {
		var err error
		if alloc, err = ipam.New(c.IPv4Range); err != nil {
			return netip.Addr{}, fmt.Errorf("cluster %s range %s: %w", c.Name, c.IPv4Range, err)
		}
		b.allocators[c.IPv4Range] = alloc
	}
	addr, err := alloc.Assign(c.Name + "/" + a.PublicAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address for %s in %s: %w", a.PublicAddr, c.IPv4Range, err)
	}
	b.byAddr[addr] = appRef{Cluster: c.Name, App: a.Name}
	return addr, nil
}

// lookup returns the app an address was given to.
func (b *addressBook) lookup(addr netip.Addr) (appRef, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ref, ok := b.byAddr[addr.Unmap()]
	return ref, ok
}

// assignAll gives every app of snap its address up front, so that a client
// that kept an address from an earlier run reaches the app before asking
// DNS again.
func (e *Engine) assignAll(snap *catalog.Snapshot) {
	for i := range snap.Clusters {
		c := &snap.Clusters[i]
		for j := range c.Apps {
			if c.Apps[j].PublicAddr == "" {
				continue
			}
			if _, err := e.addrs.assign(c, &c.Apps[j]); err != nil {
				e.log.Warn("no address for app", "app", c.Apps[j].Name, "cluster", c.Name, "err", err)
			}
		}
	}
}
