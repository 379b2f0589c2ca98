package vnet

import (
	"fmt"
	"net/netip"
	"strconv"
	"sync"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/ipam"
)

// appRef names an app independently of catalog snapshots.
type appRef struct {
	ClusterID string // catalog.Cluster.ID: who the cluster is
	Cluster   string // the name it reports: routes a dial to a leaf
	Via       string // see AppTarget.Via
	App       string
}

// appKey is what an address is derived from: an app's effective address
// in its cluster (by ID). Renaming an app that has a public_addr keeps its
// address; changing the address gives it a new one.
type appKey struct {
	ClusterID string
	Addr      string
}

func (k appKey) ipamKey() string { return k.ClusterID + "/" + k.Addr }

// allocKey is one allocator: a range of one profile. Clusters of one
// profile that share a range share its allocator; profiles never share
// one (their ranges may not overlap: catalog.AcceptRanges).
type allocKey struct {
	Via   string
	Range netip.Prefix
}

// maxProbe bounds how often assign asks an allocator again when its
// address is held through another allocator of the same profile (a leaf's
// range nested in its root's).
const maxProbe = 16

type holder struct {
	key  appKey
	ipam string // the allocator's key: ipamKey, salted after a collision
	// taken are keys that hold, in alloc, addresses found taken while
	// probing, so that alloc does not offer them again; released with
	// the holder.
	taken []string
	addr  netip.Addr
	alloc *ipam.Allocator
	ref   appRef
}

// addressBook gives apps their virtual IPv4 addresses and finds the app
// behind an address. No address is ever held by two apps, even when
// ranges of one profile nest. An address whose app went away is not
// handed out again while a connection to it lives.
type addressBook struct {
	secret []byte // keys every allocator (ipam.NewKeyed); set before first use

	mu         sync.Mutex
	allocators map[allocKey]*ipam.Allocator // guarded by mu
	byKey      map[appKey]holder            // current holders; guarded by mu
	byAddr     map[netip.Addr]appKey        // guarded by mu
	active     map[netip.Addr]int           // open connections per address; guarded by mu
	retired    map[netip.Addr]holder        // gone apps with open connections; guarded by mu
	reserved   map[netip.Addr]bool          // the device's and DNS server's own; guarded by mu
}

func newAddressBook() *addressBook {
	return &addressBook{
		allocators: map[allocKey]*ipam.Allocator{},
		byKey:      map[appKey]holder{},
		byAddr:     map[netip.Addr]appKey{},
		active:     map[netip.Addr]int{},
		retired:    map[netip.Addr]holder{},
		reserved:   map[netip.Addr]bool{},
	}
}

// reserve keeps addrs (the device's, the DNS server's) from every app.
func (b *addressBook) reserve(addrs ...netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range addrs {
		b.reserved[a] = true
	}
}

// change is what a sync did to one app.
type change struct {
	Ref  appRef
	Name string // the app's effective address
	Addr netip.Addr
	// Added is false when the app lost its address.
	Added bool
}

// sync makes the book match snap: every app with a name gets an address
// in its cluster's accepted range (ranges, by cluster ID); apps that left,
// lost their name, or whose range changed or was refused lose theirs. It
// returns what changed, and one error per app that could not get an
// address (a range too small), so they can be reported; the others work.
func (b *addressBook) sync(snap *catalog.Snapshot, ranges map[string]netip.Prefix) (changes []change, errs []error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	want := map[appKey]allocKey{}
	refs := map[appKey]appRef{}
	for i := range snap.Clusters {
		c := &snap.Clusters[i]
		rng, ok := ranges[c.ID]
		if !ok {
			continue
		}
		for _, a := range c.Apps {
			if a.Addr == "" || a.Unnamed != "" {
				continue
			}
			k := appKey{ClusterID: c.ID, Addr: a.Addr}
			want[k] = allocKey{Via: c.Via, Range: rng}
			refs[k] = appRef{ClusterID: c.ID, Cluster: c.Name, Via: c.Via, App: a.Name}
		}
	}
	for k, h := range b.byKey {
		if ak, ok := want[k]; !ok || b.allocators[ak] != h.alloc {
			b.drop(k, h)
			changes = append(changes, change{Ref: h.ref, Name: k.Addr, Addr: h.addr})
		}
	}
	for k, ak := range want {
		if h, ok := b.byKey[k]; ok {
			h.ref = refs[k] // renamed apps keep their address
			b.byKey[k] = h
			continue
		}
		addr, err := b.assign(k, ak, refs[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s of cluster %s (%s): %w", refs[k].App, refs[k].Cluster, k.ClusterID, err))
			continue
		}
		changes = append(changes, change{Ref: refs[k], Name: k.Addr, Addr: addr, Added: true})
	}
	return changes, errs
}

// assign gives k an address from the allocator ak. An address another
// allocator of the profile handed out already, or a reserved one, is kept
// (so that this allocator does not offer it again) under a salted key, and
// the next one is tried. Called with mu held.
func (b *addressBook) assign(k appKey, ak allocKey, ref appRef) (netip.Addr, error) {
	alloc, ok := b.allocators[ak]
	if !ok {
		var err error
		if alloc, err = ipam.NewKeyed(ak.Range, b.secret); err != nil {
			return netip.Addr{}, fmt.Errorf("range %s: %w", ak.Range, err)
		}
		b.allocators[ak] = alloc
	}
	var taken []string
	for i := range maxProbe {
		key := k.ipamKey()
		if i > 0 {
			key += "#" + strconv.Itoa(i)
		}
		addr, err := alloc.Assign(key)
		if err != nil {
			releaseAll(alloc, taken)
			return netip.Addr{}, fmt.Errorf("no address for %s in %s: %w", k.Addr, ak.Range, err)
		}
		if _, held := b.byAddr[addr]; held || b.reserved[addr] || b.retiredElsewhere(addr, alloc) {
			taken = append(taken, key)
			continue
		}
		b.byKey[k] = holder{key: k, ipam: key, taken: taken, addr: addr, alloc: alloc, ref: ref}
		b.byAddr[addr] = k
		// An app that left while connected and came back holds its
		// address again: it must not be released when those
		// connections end.
		delete(b.retired, addr)
		return addr, nil
	}
	releaseAll(alloc, taken)
	return netip.Addr{}, fmt.Errorf("no free address for %s in %s after %d tries", k.Addr, ak.Range, maxProbe)
}

func releaseAll(alloc *ipam.Allocator, keys []string) {
	for _, k := range keys {
		alloc.Release(k)
	}
}

// retiredElsewhere reports whether addr is held for live connections
// through another allocator. Called with mu held.
func (b *addressBook) retiredElsewhere(addr netip.Addr, alloc *ipam.Allocator) bool {
	h, ok := b.retired[addr]
	return ok && h.alloc != alloc
}

// drop takes k's address away. Called with mu held.
func (b *addressBook) drop(k appKey, h holder) {
	delete(b.byKey, k)
	delete(b.byAddr, h.addr)
	if b.active[h.addr] > 0 {
		b.retired[h.addr] = h
		return
	}
	h.alloc.Release(h.ipam)
	releaseAll(h.alloc, h.taken)
}

// addrOf is the address of the app at name in a cluster, if it has one.
func (b *addressBook) addrOf(clusterID, name string) (netip.Addr, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.byKey[appKey{ClusterID: clusterID, Addr: name}]
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
		h.alloc.Release(h.ipam)
		releaseAll(h.alloc, h.taken)
	}
}
