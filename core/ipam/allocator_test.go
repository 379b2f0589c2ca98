package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		ok     bool
	}{
		{name: "default range", prefix: "100.64.0.0/10", ok: true},
		{name: "smallest /29", prefix: "10.0.0.0/29", ok: true},
		{name: "whole space /0", prefix: "0.0.0.0/0", ok: true},
		{name: "/30 too small", prefix: "10.0.0.0/30", ok: false},
		{name: "/32 too small", prefix: "10.0.0.1/32", ok: false},
		{name: "not masked", prefix: "100.64.0.5/10", ok: false},
		{name: "IPv6", prefix: "fd00::/64", ok: false},
		{name: "IPv4-mapped IPv6", prefix: "::ffff:10.0.0.0/104", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(netip.MustParsePrefix(tt.prefix))
			if tt.ok {
				if err != nil {
					t.Fatalf("New(%s): %v", tt.prefix, err)
				}
				if got := a.Prefix().String(); got != tt.prefix {
					t.Errorf("Prefix() = %s, want %s", got, tt.prefix)
				}
				return
			}
			if !errors.Is(err, ErrNotInRange) {
				t.Fatalf("New(%s) error = %v, want ErrNotInRange", tt.prefix, err)
			}
		})
	}
	if _, err := New(netip.Prefix{}); !errors.Is(err, ErrNotInRange) {
		t.Errorf("New(zero prefix) error = %v, want ErrNotInRange", err)
	}
}

func TestAssignStableAcrossAllocators(t *testing.T) {
	p := netip.MustParsePrefix("100.64.0.0/10")
	keys := []string{"tcp-app", "postgres", "redis", "leaf/tcp-app", ""}
	a1, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	// The second allocator sees the keys in the opposite order: with no
	// collisions in a range this large the order must not matter.
	first := map[string]netip.Addr{}
	for _, k := range keys {
		addr, err := a1.Assign(k)
		if err != nil {
			t.Fatalf("Assign(%q): %v", k, err)
		}
		if !p.Contains(addr) {
			t.Errorf("Assign(%q) = %s, outside %s", k, addr, p)
		}
		first[k] = addr
	}
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		addr, err := a2.Assign(k)
		if err != nil {
			t.Fatalf("Assign(%q): %v", k, err)
		}
		if addr != first[k] {
			t.Errorf("second allocator: Assign(%q) = %s, first gave %s", k, addr, first[k])
		}
	}
	// Asking again returns the same address.
	for _, k := range keys {
		if addr, err := a1.Assign(k); err != nil || addr != first[k] {
			t.Errorf("repeat Assign(%q) = %s, %v; want %s", k, addr, err, first[k])
		}
	}
	// The hash, not the allocator, picks the address: pin one value so a
	// change of hash (which would move every app's address) is noticed.
	want := uint32ToAddr(addrToUint32(p.Addr()) + reservedLow + uint32(hashKey("tcp-app")%uint64(1<<22-4)))
	if first["tcp-app"] != want {
		t.Errorf("Assign(tcp-app) = %s, want %s", first["tcp-app"], want)
	}
}

func TestExhaustReservedNeverAssigned(t *testing.T) {
	p := netip.MustParsePrefix("192.168.7.8/29")
	a, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	reserved := map[netip.Addr]string{
		netip.MustParseAddr("192.168.7.8"):  "network",
		netip.MustParseAddr("192.168.7.9"):  "tun",
		netip.MustParseAddr("192.168.7.10"): "dns",
		netip.MustParseAddr("192.168.7.15"): "broadcast",
	}
	if got := TunAddr(p); reserved[got] != "tun" {
		t.Errorf("TunAddr = %s, want 192.168.7.9", got)
	}
	if got := DNSAddr(p); reserved[got] != "dns" {
		t.Errorf("DNSAddr = %s, want 192.168.7.10", got)
	}
	seen := map[netip.Addr]string{}
	for i := 0; i < 4; i++ {
		k := fmt.Sprintf("app-%d", i)
		addr, err := a.Assign(k)
		if err != nil {
			t.Fatalf("Assign(%q): %v", k, err)
		}
		if what, bad := reserved[addr]; bad {
			t.Errorf("Assign(%q) = %s, the %s address", k, addr, what)
		}
		if !p.Contains(addr) {
			t.Errorf("Assign(%q) = %s, outside %s", k, addr, p)
		}
		if other, dup := seen[addr]; dup {
			t.Errorf("Assign(%q) = %s, already held by %q", k, addr, other)
		}
		seen[addr] = k
	}
	_, err = a.Assign("one-too-many")
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Assign on a full range: error = %v, want ErrFull", err)
	}
	// Keys already assigned still get their address when the range is full.
	for addr, k := range seen {
		if got, err := a.Assign(k); err != nil || got != addr {
			t.Errorf("Assign(%q) on a full range = %s, %v; want %s", k, got, err, addr)
		}
	}
	// Releasing one address makes room for exactly one more key.
	var freed netip.Addr
	for addr, k := range seen {
		a.Release(k)
		freed = addr
		break
	}
	got, err := a.Assign("one-too-many")
	if err != nil {
		t.Fatalf("Assign after Release: %v", err)
	}
	if got != freed {
		t.Errorf("Assign after Release = %s, want the freed %s", got, freed)
	}
	if _, err := a.Assign("two-too-many"); !errors.Is(err, ErrFull) {
		t.Errorf("Assign on a full range again: error = %v, want ErrFull", err)
	}
}

func TestLookupRelease(t *testing.T) {
	p := netip.MustParsePrefix("10.1.0.0/24")
	a, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := a.Assign("tcp-app")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		addr    netip.Addr
		wantKey string
		wantOK  bool
	}{
		{name: "assigned", addr: addr, wantKey: "tcp-app", wantOK: true},
		{name: "assigned, IPv4-mapped form", addr: netip.AddrFrom16(addr.As16()), wantKey: "tcp-app", wantOK: true},
		{name: "tun address", addr: TunAddr(p)},
		{name: "dns address", addr: DNSAddr(p)},
		{name: "outside range", addr: netip.MustParseAddr("8.8.8.8")},
		{name: "zero", addr: netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, ok := a.Lookup(tt.addr)
			if key != tt.wantKey || ok != tt.wantOK {
				t.Errorf("Lookup(%s) = %q, %v; want %q, %v", tt.addr, key, ok, tt.wantKey, tt.wantOK)
			}
		})
	}

	a.Release("tcp-app")
	if key, ok := a.Lookup(addr); ok {
		t.Errorf("Lookup after Release = %q, want nothing", key)
	}
	a.Release("tcp-app")   // releasing twice is harmless
	a.Release("never-had") // and so is releasing an unknown key
	again, err := a.Assign("tcp-app")
	if err != nil {
		t.Fatal(err)
	}
	if again != addr {
		t.Errorf("Assign after Release = %s, want the same %s", again, addr)
	}
}

func TestAssignCollisionProbes(t *testing.T) {
	// In a /29 only 4 addresses are assignable, so keys collide easily; find
	// two whose first choice is the same.
	p := netip.MustParsePrefix("10.0.0.0/29")
	byChoice := map[uint64]string{}
	var k1, k2 string
	for i := 0; k2 == ""; i++ {
		k := fmt.Sprintf("k%d", i)
		c := hashKey(k) % 4
		if prev, ok := byChoice[c]; ok {
			k1, k2 = prev, k
		}
		byChoice[c] = k
	}
	a, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	addr1, err := a.Assign(k1)
	if err != nil {
		t.Fatal(err)
	}
	addr2, err := a.Assign(k2)
	if err != nil {
		t.Fatal(err)
	}
	// Linear probing: the second key takes the next address, wrapping from
	// the last assignable address (.6) to the first (.3).
	want := addr1.Next()
	if want == netip.MustParseAddr("10.0.0.7") {
		want = netip.MustParseAddr("10.0.0.3")
	}
	if addr2 != want {
		t.Errorf("%q took %s; colliding %q got %s, want %s", k1, addr1, k2, addr2, want)
	}
}

func TestAssignConcurrent(t *testing.T) {
	a, err := New(netip.MustParsePrefix("10.2.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	const workers, keys = 8, 200 // 200 keys fit in the 252 assignable addresses
	results := make([]map[string]netip.Addr, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		results[w] = map[string]netip.Addr{}
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < keys; i++ {
				// Workers walk the keys in different orders.
				k := fmt.Sprintf("app-%d", (i+w*25)%keys)
				addr, err := a.Assign(k)
				if err != nil {
					t.Errorf("Assign(%q): %v", k, err)
					return
				}
				results[w][k] = addr
				if got, ok := a.Lookup(addr); !ok || got != k {
					t.Errorf("Lookup(%s) = %q, %v; want %q", addr, got, ok, k)
				}
			}
		}(w)
	}
	wg.Wait()
	owner := map[netip.Addr]string{}
	for w := range results {
		if len(results[w]) != keys {
			t.Fatalf("worker %d assigned %d keys, want %d", w, len(results[w]), keys)
		}
		for k, addr := range results[w] {
			if results[0][k] != addr {
				t.Errorf("key %q: worker %d got %s, worker 0 got %s", k, w, addr, results[0][k])
			}
			if o, ok := owner[addr]; ok && o != k {
				t.Errorf("address %s held by %q and %q", addr, o, k)
			}
			owner[addr] = k
		}
	}
}
