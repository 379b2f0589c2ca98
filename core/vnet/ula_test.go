package vnet

import (
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreateULA(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "ula-prefix")
	first, err := LoadOrCreateULA(path)
	if err != nil {
		t.Fatal(err)
	}
	if first.Bits() != 64 || first.Addr().As16()[0] != 0xfd {
		t.Fatalf("prefix %s: want an fd00::/8 /64", first)
	}
	again, err := LoadOrCreateULA(path)
	if err != nil || again != first {
		t.Fatalf("second load = %s, %v; want the stored %s", again, err, first)
	}
	os.WriteFile(path, []byte("10.0.0.0/8\n"), 0o644)
	if _, err := LoadOrCreateULA(path); err == nil {
		t.Fatal("a damaged prefix file was accepted")
	}
}

// A second start that creates the prefix file between this start's read
// and its write wins: this start returns the stored prefix and leaves the
// file alone, so both use one prefix (a plain write would replace it).
func TestLoadOrCreateULARace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ula-prefix")
	winner := netip.MustParsePrefix("fd00:1:2:3::/64")
	orig := newULA
	t.Cleanup(func() { newULA = orig })
	newULA = func() (netip.Prefix, error) {
		if err := os.WriteFile(path, []byte(winner.String()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return netip.MustParsePrefix("fd00:9:9:9::/64"), nil
	}
	got, err := LoadOrCreateULA(path)
	if err != nil || got != winner {
		t.Fatalf("LoadOrCreateULA = %s, %v; want the stored %s", got, err, winner)
	}
	if data, _ := os.ReadFile(path); string(data) != winner.String()+"\n" {
		t.Errorf("file holds %q, want the winner's prefix", data)
	}
}

// Many first starts at once, as instances in one process make them: every
// one gets the same prefix, none an error.
func TestLoadOrCreateULAConcurrent(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "state", "ula-prefix")
		const n = 8
		got := make([]netip.Prefix, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { got[i], errs[i] = LoadOrCreateULA(path) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || got[i] != got[0] {
				t.Fatalf("round %d, start %d: %s, %v; start 0 got %s", round, i, got[i], errs[i], got[0])
			}
		}
	}
}
