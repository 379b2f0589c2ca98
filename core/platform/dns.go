package platform

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/vnetproject/vnet/core/netcfg"
)

// dnsConfigurator points the OS resolver at VNet's DNS server, one
// implementation per DNS mode. The Configurator calls apply after the
// device, its addresses and its routes are in place, and close once.
type dnsConfigurator interface {
	apply(s netcfg.Settings) error
	close() error
}

// newDNSConfigurator returns the dnsConfigurator for cfg.DNSMode (already
// validated).
func newDNSConfigurator(cfg Config) dnsConfigurator {
	switch cfg.DNSMode {
	case DNSModeResolved:
		return newResolvedDNS(cfg.TunName)
	case DNSModeResolvConf:
		return newResolvConfDNS(cfg.ResolvConfPath, cfg.Logger)
	default:
		return noDNS{}
	}
}

// noDNS is DNSModeNone.
type noDNS struct{}

func (noDNS) apply(netcfg.Settings) error { return nil }
func (noDNS) close() error                { return nil }

// resolvConfDNS is DNSModeResolvConf. It keeps no copy of the original: the
// file it writes carries it (see resolvconf.go), so the file alone decides
// what to restore, whether VNet stops cleanly or not.
type resolvConfDNS struct {
	path string
	pid  int
	log  *slog.Logger
	// wrote is true while the file holds what this VNet wrote; only then
	// does close restore it.
	wrote bool
}

func newResolvConfDNS(path string, log *slog.Logger) *resolvConfDNS {
	// A symlink usually means another program (systemd-resolved,
	// resolvconf) owns the file and may rewrite it under VNet.
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		target, _ := filepath.EvalSymlinks(path)
		log.Warn("resolv.conf is a symlink; VNet writes through it, and the program that owns the target may overwrite VNet's DNS settings",
			"path", path, "target", target)
	}
	return &resolvConfDNS{path: path, pid: os.Getpid(), log: log}
}

func (d *resolvConfDNS) apply(s netcfg.Settings) error {
	cur, err := os.ReadFile(d.path)
	if err != nil {
		return fmt.Errorf("resolv.conf mode: %w", err)
	}
	orig := cur
	inner, pid, ours := unwrapResolvConf(cur)
	if ours {
		if pid != d.pid && processAlive(pid) {
			return fmt.Errorf("%s (pid %d): %w", d.path, pid, ErrResolvConfInUse)
		}
		// Ours, or left by a VNet that died: the original is inside.
		orig = inner
	}
	if len(s.DNSAddrs) == 0 {
		// No DNS server to point at: the original is the best resolver.
		if ours {
			if err := writeInPlace(d.path, orig); err != nil {
				return err
			}
			d.log.Info("restored resolver configuration", "path", d.path)
		}
		d.wrote = false
		return nil
	}
	want := wrapResolvConf(orig, d.pid, s.DNSAddrs)
	if !bytes.Equal(cur, want) {
		if err := writeInPlace(d.path, want); err != nil {
			return err
		}
		d.log.Info("pointed resolver configuration at VNet", "path", d.path, "nameservers", s.DNSAddrs)
	}
	d.wrote = true
	return nil
}

func (d *resolvConfDNS) close() error {
	if !d.wrote {
		return nil
	}
	d.wrote = false
	cur, err := os.ReadFile(d.path)
	if err != nil {
		return fmt.Errorf("restore resolver configuration: %w", err)
	}
	orig, pid, ok := unwrapResolvConf(cur)
	if !ok || pid != d.pid {
		// Someone replaced VNet's file while it ran; theirs is newer than
		// the original, so it stays.
		d.log.Warn("resolver configuration was replaced while VNet ran; leaving it as it is", "path", d.path)
		return nil
	}
	if err := writeInPlace(d.path, orig); err != nil {
		return err
	}
	d.log.Info("restored resolver configuration", "path", d.path)
	return nil
}
