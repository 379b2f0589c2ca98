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

	"github.com/vnetproject/vnet/core/ipam"
)

// LoadOrCreateULA returns the machine's IPv6 prefix stored at path,
// creating it (RFC 4193 random global ID) on first use, so that apps keep
// their IPv6 addresses across runs.
func LoadOrCreateULA(path string) (netip.Prefix, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		p, err := netip.ParsePrefix(strings.TrimSpace(string(data)))
		if err != nil || p.Bits() != 64 || !p.Addr().Is6() {
			return netip.Prefix{}, fmt.Errorf("%s: not an IPv6 /64 prefix: delete it to make a new one", path)
		}
		return p, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return netip.Prefix{}, err
	}
	p, err := ipam.NewULAPrefix(rand.Reader)
	if err != nil {
		return netip.Prefix{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return netip.Prefix{}, err
	}
	if err := os.WriteFile(path, []byte(p.String()+"\n"), 0o644); err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}
