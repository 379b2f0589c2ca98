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
	Via     string // see AppTarget.Via
	App     string
}

// appKey is what an address is derived from: an app's public address in
// its cluster. Renaming an app keeps its address; changing its public
// address gives it a new one.
type appKey struct {
	Cluster    string
	PublicAddr string
}

func (k appKey) ipamKey() string { return k.Cluster + "/" + k.PublicAddr }

type holder struct {
	key   appKey
	addr  netip.Addr
	alloc *ipam.Allocator
	ref   appRef
}

// addressBook gives apps their virtual IPv4 addresses and finds the app
// behind an address. Clusters that share a range share one allocator, so
// their apps never collide. An address whose app went away is not handed
// out again while a connection to it lives.
type addressBook struct {
	secret []byte // keys every allocator (ipam.NewKeyed); set before first use

	mu         sync.Mutex
	allocators map[netip.Prefix]*ipam.Allocator // guarded by mu
	byKey      map[appKey]holder                // current holders; guarded by mu
	byAddr     map[netip.Addr]appKey            // guarded by mu
	active     map[netip.Addr]int               // open connections per address; guarded by mu
	retired    map[netip.Addr]holder            // gone apps with open connections; guarded by mu
}

func newAddressBook() *addressBook {
	return &addressBook{
		allocators: map[netip.Prefix]*ipam.Allocator{},
		byKey:      map[appKey]holder{},
		byAddr:     map[netip.Addr]appKey{},
		active:     map[netip.Addr]int{},
		retired:    map[netip.Addr]holder{},
	}
}

// change is what a sync did to one app.
type change struct {
	Ref        appRef
	PublicAddr string
	Addr       netip.Addr
	Added      bool // false: removed
}

// sync makes the book match snap: every app with a public address gets
// one in its cluster's current range; apps that left (or whose range
// changed) lose theirs. It returns what changed, and one error per app
// that could not get an address (a range too small), so they can be
// reported; the others work.
func (b *addressBook) sync(snap *catalog.Snapshot) (changes []change, errs []error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	want := map[appKey]*catalog.Cluster{}
	refs := map[appKey]appRef{}
	for i := range snap.Clusters {
		c := &snap.Clusters[i]
		for _, a := range c.Apps {
			if a.PublicAddr == "" {
				continue
			}
			k := appKey{Cluster: c.Name, PublicAddr: a.PublicAddr}
			want[k], refs[k] = c, appRef{Cluster: c.Name, Via: c.Via, App: a.Name}
		}
	}
	for k, h := range b.byKey {
		if c, ok := want[k]; !ok || c.IPv4Range != h.alloc.Prefix() {
			b.drop(k, h)
			changes = append(changes, change{Ref: h.ref, PublicAddr: k.PublicAddr, Addr: h.addr})
		}
	}
	for k, c := range want {
		if h, ok := b.byKey[k]; ok {
			h.ref = refs[k] // renamed apps keep their address
			b.byKey[k] = h
			continue
		}
		addr, err := b.assign(k, c.IPv4Range, refs[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s of cluster %s: %w", refs[k].App, c.Name, err))
			continue
		}
		changes = append(changes, change{Ref: refs[k], PublicAddr: k.PublicAddr, Addr: addr, Added: true})
	}
	return changes, errs
}

// assign gives k an address in prefix. Called with mu held.
func (b *addressBook) assign(k appKey, prefix netip.Prefix, ref appRef) (netip.Addr, error) {
	alloc, ok := b.allocators[prefix]
	if !ok {
		var err error
		if alloc, err = ipam.NewKeyed(prefix, b.secret); err != nil {
			return netip.Addr{}, fmt.Errorf("range %s: %w", prefix, err)
		}
		b.allocators[prefix] = alloc
	}
	addr, err := alloc.Assign(k.ipamKey())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no address for %s in %s: %w", k.PublicAddr, prefix, err)
	}
	b.byKey[k] = holder{key: k, addr: addr, alloc: alloc, ref: ref}
	b.byAddr[addr] = k
	// An app that left while connected and came back holds its address
	// again: it must not be released when those connections end.
	delete(b.retired, addr)
	return addr, nil
}

// drop takes k's address away. Called with mu held.
func (b *addressBook) drop(k appKey, h holder) {
	delete(b.byKey, k)
	delete(b.byAddr, h.addr)
	if b.active[h.addr] > 0 {
		b.retired[h.addr] = h
		return
	}
	h.alloc.Release(k.ipamKey())
}

// addrOf is the address of an app, if it has one.
func (b *addressBook) addrOf(cluster, publicAddr string) (netip.Addr, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.byKey[appKey{Cluster: cluster, PublicAddr: publicAddr}]
	return h.addr, ok
}

// acquire finds the app behind addr for a new connection and counts the
// connection until release is called.
func (b *addressBook) acquire(addr netip.Addr) (ref appRef, release func(), ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.byAddr[addr]
	if !ok {
		return appRef{}, nil, false
	}
	b.active[addr]++
	var once sync.Once
	return b.byKey[k].ref, func() { once.Do(func() { b.release(addr) }) }, true
}

func (b *addressBook) release(addr netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active[addr]--
	if b.active[addr] > 0 {
		return
	}
	delete(b.active, addr)
	if h, ok := b.retired[addr]; ok {
		delete(b.retired, addr)
		h.alloc.Release(h.key.ipamKey())
	}
}
