package vnet

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vnetproject/vnet/core/atomicfile"
	"github.com/vnetproject/vnet/core/ipam"
)

// newULA makes a machine's prefix; a test replaces it to play a second
// start that creates the file first.
var newULA = func() (netip.Prefix, error) { return ipam.NewULAPrefix(rand.Reader) }

// LoadOrCreateULA returns the machine's IPv6 prefix stored at path,
// creating it (RFC 4193 random global ID) on first use, so that apps keep
// their IPv6 addresses across runs.
//
// As with the address secret (LoadOrCreateSecret), the file is written
// whole under a temporary name and linked into place
// (atomicfile.CreateFile), which fails if path exists: of several first
// starts at once (several instances in one process, vnet.h), one creates
// the file and all return its prefix; none reads a half-written file, and
// a crash leaves no empty one.
func LoadOrCreateULA(path string) (netip.Prefix, error) {
	p, err := readULA(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return p, err
	}
	if p, err = newULA(); err != nil {
		return netip.Prefix{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return netip.Prefix{}, err
	}
	err = atomicfile.CreateFile(path, []byte(p.String()+"\n"), 0o644)
	if errors.Is(err, fs.ErrExist) {
		return readULA(path) // another start made it first
	}
	if err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}

func readULA(path string) (netip.Prefix, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return netip.Prefix{}, err
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(string(data)))
	if err != nil || p.Bits() != 64 || !p.Addr().Is6() {
		return netip.Prefix{}, fmt.Errorf("%s: not an IPv6 /64 prefix: delete it to make a new one", path)
	}
	return p, nil
}
