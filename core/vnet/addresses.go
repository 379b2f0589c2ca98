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

// allocKey is one range of one profile, where its apps' addresses are
// searched. Clusters of one profile that share a range share it;
// profiles never share one (their ranges may not overlap:
// catalog.AcceptRanges).
type allocKey struct {
	Via   string
	Range netip.Prefix
}

// holder is an app's address, as the book keeps it for each of up to
// hundreds of thousands of apps: small, and without what its cluster
// shares (issue 13: the book held 70 MiB for 100,000 apps).
type holder struct {
	addr uint32     // IPv4
	gen  uint32     // the sync that last saw the app
	rng  *bookRange // where the address was found
	app  string     // the app's name: renamed apps keep their address
}

// bookRange is one allocKey's search for addresses (ipam.Range).
type bookRange struct {
	key allocKey
	r   ipam.Range
}

// addressBook gives apps their virtual IPv4 addresses and finds the app
// behind an address. It keeps one record of taken addresses over every
// range, so that no address is ever held by two apps, even when ranges
// of one profile nest. An address whose app went away is not handed out
// again (but to the same app) while a connection to it lives.
type addressBook struct {
	secret []byte // keys every range (ipam.NewRange); set before first use

	mu       sync.Mutex
	ranges   map[allocKey]*bookRange // guarded by mu
	byKey    map[appKey]holder       // current holders; guarded by mu
	byAddr   map[uint32]appKey       // guarded by mu
	active   map[uint32]int          // open connections per address; guarded by mu
	retired  map[uint32]appKey       // gone apps with open connections; guarded by mu
	reserved map[uint32]bool         // the device's and DNS server's own; guarded by mu
	clusters map[string]string       // cluster ID -> the name it reports; guarded by mu
	gen      uint32                  // sync's count; guarded by mu
}

func newAddressBook() *addressBook {
	return &addressBook{
		ranges:   map[allocKey]*bookRange{},
		byKey:    map[appKey]holder{},
		byAddr:   map[uint32]appKey{},
		active:   map[uint32]int{},
		retired:  map[uint32]appKey{},
		reserved: map[uint32]bool{},
		clusters: map[string]string{},
	}
}

func toU32(a netip.Addr) (uint32, bool) {
	if a = a.Unmap(); !a.Is4() {
		return 0, false
	}
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), true
}

func fromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// reserve keeps addrs (the device's, the DNS server's) from every app.
func (b *addressBook) reserve(addrs ...netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range addrs {
		if v, ok := toU32(a); ok {
			b.reserved[v] = true
		}
	}
}

// sync makes the book match snap: every app with a name gets an address
// in its cluster's accepted range (ranges, by cluster ID); apps that left,
// lost their name, or whose range changed or was refused lose theirs. It
// returns what changed (listed only when few), and one error per app that could not get an
// address (a range too small), so they can be reported; the others work.
// Apps that keep their address cost a look-up each: nothing is built
// over every app.
func (b *addressBook) sync(snap *catalog.Snapshot, ranges map[string]netip.Prefix) (changes AppChanges, errs []error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gen++
	names := make(map[string]string, len(snap.Clusters))
	// each calls f with every app that should have an address, and its
	// range; with report, the apps of a range that cannot be searched are
	// errors.
	each := func(report bool, f func(c *catalog.Cluster, a *catalog.App, br *bookRange)) {
		for i := range snap.Clusters {
			c := &snap.Clusters[i]
			rng, ok := ranges[c.ID]
			if !ok {
				continue
			}
			br, err := b.rangeOf(allocKey{Via: c.Via, Range: rng})
			for j := range c.Apps {
				if a := &c.Apps[j]; a.Addr != "" && a.Unnamed == "" {
					if err == nil {
						f(c, a, br)
					} else if report {
						errs = append(errs, fmt.Errorf("app %s of cluster %s (%s): %w", a.Name, c.Name, c.ID, err))
					}
				}
			}
		}
	}
	// Apps that keep their address are marked, with their names now.
	each(false, func(c *catalog.Cluster, a *catalog.App, br *bookRange) {
		names[c.ID] = c.Name
		k := appKey{ClusterID: c.ID, Addr: a.Addr}
		if h, ok := b.byKey[k]; ok && h.rng == br {
			h.gen, h.app = b.gen, a.Name
			b.byKey[k] = h
		}
	})
	// Those gone next (under the names their clusters had), so that
	// their addresses are free for newcomers.
	for k, h := range b.byKey {
		if h.gen != b.gen {
			b.drop(k, h)
			changes.add(b.change(k, h, false))
		}
	}
	b.clusters = names
	each(true, func(c *catalog.Cluster, a *catalog.App, br *bookRange) {
		k := appKey{ClusterID: c.ID, Addr: a.Addr}
		if _, ok := b.byKey[k]; ok {
			return
		}
		h, err := b.assign(k, br, a.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s of cluster %s (%s): %w", a.Name, c.Name, c.ID, err))
			return
		}
		changes.add(b.change(k, h, true))
	})
	return changes, errs
}

// rangeOf is ak's search, made the first time. Called with mu held.
func (b *addressBook) rangeOf(ak allocKey) (*bookRange, error) {
	if br, ok := b.ranges[ak]; ok {
		return br, nil
	}
	r, err := ipam.NewRange(ak.Range, b.secret)
	if err != nil {
		return nil, fmt.Errorf("range %s: %w", ak.Range, err)
	}
	br := &bookRange{key: ak, r: r}
	b.ranges[ak] = br
	return br, nil
}

// ref is the app k, h. Called with mu held.
func (b *addressBook) ref(k appKey, h holder) appRef {
	return appRef{ClusterID: k.ClusterID, Cluster: b.clusters[k.ClusterID], Via: h.rng.key.Via, App: h.app}
}

// change is what happened to the app k, h. Called with mu held.
func (b *addressBook) change(k appKey, h holder, added bool) AppChange {
	return AppChange{Cluster: b.clusters[k.ClusterID], ClusterID: k.ClusterID, App: h.app, Name: k.Addr, Addr: fromU32(h.addr), Added: added}
}

// assign gives the app k, called app, an address in br: the first of
// the range's search for k that no app holds, that is not reserved, and
// that no gone app holds for its connections (unless that app is k,
// back). Called with mu held.
func (b *addressBook) assign(k appKey, br *bookRange, app string) (holder, error) {
	r := br.r
	start := r.Start(k.ipamKey())
	for i := range uint64(r.Size()) {
		v, _ := toU32(r.At(start + i))
		if _, held := b.byAddr[v]; held || b.reserved[v] {
			continue
		}
		if gone, ok := b.retired[v]; ok {
			if gone != k {
				continue
			}
			// An app that left while connected and came back holds its
			// address again.
			delete(b.retired, v)
		}
		h := holder{addr: v, gen: b.gen, rng: br, app: app}
		b.byKey[k] = h
		b.byAddr[v] = k
		return h, nil
	}
	return holder{}, fmt.Errorf("no address for %s in %s: %w", k.Addr, r.Prefix(), ipam.ErrFull)
}

// drop takes k's address away. Called with mu held.
func (b *addressBook) drop(k appKey, h holder) {
	delete(b.byKey, k)
	delete(b.byAddr, h.addr)
	if b.active[h.addr] > 0 {
		b.retired[h.addr] = k
	}
}

// addrOf is the address of the app at name in a cluster, if it has one.
func (b *addressBook) addrOf(clusterID, name string) (netip.Addr, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.byKey[appKey{ClusterID: clusterID, Addr: name}]
	if !ok {
		return netip.Addr{}, false
	}
	return fromU32(h.addr), true
}

// acquire finds the app behind addr for a new connection and counts the
// connection until release is called.
func (b *addressBook) acquire(addr netip.Addr) (ref appRef, release func(), ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := toU32(addr)
	if !ok {
		return appRef{}, nil, false
	}
	k, ok := b.byAddr[v]
	if !ok {
		return appRef{}, nil, false
	}
	b.active[v]++
	var once sync.Once
	return b.ref(k, b.byKey[k]), func() { once.Do(func() { b.release(v) }) }, true
}

func (b *addressBook) release(v uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active[v]--
	if b.active[v] > 0 {
		return
	}
	delete(b.active, v)
	delete(b.retired, v)
}
