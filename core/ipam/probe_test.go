package ipam

import (
	"net/netip"
	"testing"
)

func TestNewKeyed(t *testing.T) {
	p := netip.MustParsePrefix("100.64.0.0/10")
	secretA := []byte("0123456789abcdef0123456789abcdef")
	secretB := []byte("fedcba9876543210fedcba9876543210")
	keys := []string{"root.test/tcp-app.company.test", "root.test/db.company.test", "leaf.test/tcp-app.leaf.test"}
	assignAll := func(t *testing.T, secret []byte, keys []string) map[string]netip.Addr {
		t.Helper()
		a, err := NewKeyed(p, secret)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]netip.Addr{}
		for _, k := range keys {
			if out[k], err = a.Assign(k); err != nil {
				t.Fatalf("Assign(%q): %v", k, err)
			}
		}
		return out
	}
	reversed := []string{keys[2], keys[1], keys[0]}
	unkeyedA, unkeyedB := assignAll(t, nil, keys), assignAll(t, []byte{}, keys)
	keyedA, keyedA2 := assignAll(t, secretA, keys), assignAll(t, secretA, reversed)
	keyedB := assignAll(t, secretB, keys)
	plain, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if keyedA[k] != keyedA2[k] {
			t.Errorf("%s: same secret, another allocator: %s then %s", k, keyedA[k], keyedA2[k])
		}
		if keyedA[k] == keyedB[k] {
			t.Errorf("%s: two secrets gave the same address %s", k, keyedA[k])
		}
		if keyedA[k] == unkeyedA[k] {
			t.Errorf("%s: the secret did not change the unkeyed address %s", k, keyedA[k])
		}
		if unkeyedA[k] != unkeyedB[k] {
			t.Errorf("%s: nil and empty secrets differ: %s, %s", k, unkeyedA[k], unkeyedB[k])
		}
		if want, _ := plain.Assign(k); unkeyedA[k] != want {
			t.Errorf("%s: empty secret gives %s, New gives %s", k, unkeyedA[k], want)
		}
	}
	// The derivation is part of every machine's addresses: a change would
	// move every app. Pin one value (HMAC-SHA256 computed outside Go).
	if got, want := keyedA[keys[0]], netip.MustParseAddr("100.87.24.165"); got != want {
		t.Errorf("Assign(%q) with secret A = %s, want %s", keys[0], got, want)
	}
}

// TestNewKeyedCopiesSecret: the caller's buffer changing later does not
// move addresses.
func TestNewKeyedCopiesSecret(t *testing.T) {
	p := netip.MustParsePrefix("10.0.0.0/8")
	secret := []byte("0123456789abcdef0123456789abcdef")
	a, err := NewKeyed(p, secret)
	if err != nil {
		t.Fatal(err)
	}
	secret[0] ^= 0xff
	b, err := NewKeyed(p, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if x, y := mustAssign(t, a, "k"), mustAssign(t, b, "k"); x != y {
		t.Errorf("after the caller changed its buffer: %s, want %s", x, y)
	}
}

func mustAssign(t *testing.T, a *Allocator, key string) netip.Addr {
	t.Helper()
	addr, err := a.Assign(key)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
