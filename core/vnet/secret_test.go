package vnet

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "address-secret")
	first, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 32 || bytes.Equal(first, make([]byte, 32)) {
		t.Fatalf("secret %x: want 32 random bytes", first)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	again, err := LoadOrCreateSecret(path)
	if err != nil || !bytes.Equal(again, first) {
		t.Fatalf("second load = %x, %v; want the stored %x", again, err, first)
	}
	if st2, _ := os.Stat(path); !os.SameFile(st, st2) || !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the second load rewrote the file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("state dir holds %d entries, want only the secret (no temporary file left)", len(entries))
	}

	other, err := LoadOrCreateSecret(filepath.Join(dir, "other-secret"))
	if err != nil || bytes.Equal(other, first) {
		t.Errorf("another file's secret = %x, %v; want a new random one", other, err)
	}
}

func TestLoadOrCreateSecretDamaged(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"empty", ""},
		{"not hex", strings.Repeat("zz", 32)},
		{"too short", strings.Repeat("ab", 16)},
		{"too long", strings.Repeat("ab", 33)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "address-secret")
			os.WriteFile(path, []byte(tc.content), 0o600)
			_, err := LoadOrCreateSecret(path)
			if err == nil {
				t.Fatal("a damaged secret file was accepted")
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, path) || !strings.Contains(msg, "delete it") {
				t.Errorf("error %q: want one line naming the file and saying to delete it", msg)
			}
			if data, _ := os.ReadFile(path); string(data) != tc.content {
				t.Error("the damaged file was changed")
			}
		})
	}
}

// TestLoadOrCreateSecretConcurrent: first starts racing for the file all
// get the one secret that ends up stored.
func TestLoadOrCreateSecretConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "address-secret")
	const n = 16
	got := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = LoadOrCreateSecret(path)
		}()
	}
	wg.Wait()
	stored, err := readSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil || !bytes.Equal(got[i], stored) {
			t.Errorf("start %d: %x, %v; want the stored %x", i, got[i], errs[i], stored)
		}
	}
}

// TestAddressBookUsesSecret: the engine's addresses follow
// Config.AddressSecret: the same secret gives the same address on every
// run, another secret another address.
func TestAddressBookUsesSecret(t *testing.T) {
	addrWith := func(secret []byte) netip.Addr {
		b := newAddressBook()
		b.secret = secret
		if _, errs := b.sync(snapshotOf("100.64.0.0/10", "db")); len(errs) != 0 {
			t.Fatal(errs)
		}
		a, ok := b.addrOf("c", "db.c.test")
		if !ok {
			t.Fatal("no address")
		}
		return a
	}
	dir := t.TempDir()
	secretA, err := LoadOrCreateSecret(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	secretB, err := LoadOrCreateSecret(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	reloaded, err := LoadOrCreateSecret(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	first := addrWith(secretA)
	if again := addrWith(reloaded); again != first {
		t.Errorf("same secret, next run: %s, want %s", again, first)
	}
	if other := addrWith(secretB); other == first {
		t.Errorf("another machine's secret gave the same address %s", other)
	}
	if unkeyed := addrWith(nil); unkeyed == first {
		t.Errorf("the secret did not change the unkeyed address %s", unkeyed)
	}
}
