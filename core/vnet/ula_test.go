package vnet

import (
	"os"
	"path/filepath"
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
