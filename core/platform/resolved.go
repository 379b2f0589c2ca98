package platform

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vnetproject/vnet/core/netcfg"
)

// Where systemd-resolved keeps the resolver files it writes.
const (
	// ResolvedStubPath is the file /etc/resolv.conf links to when programs
	// ask systemd-resolved's stub at 127.0.0.53.
	ResolvedStubPath = "/run/systemd/resolve/stub-resolv.conf"
	// ResolvedUpstreamPath lists the servers systemd-resolved itself asks:
	// VNet's upstreams in this mode (the stub would send VNet's own
	// queries back to VNet).
	ResolvedUpstreamPath = "/run/systemd/resolve/resolv.conf"
)

// DetectDNSMode picks the DNS mode for "auto": systemd-resolved when
// resolvConf is its stub (a link to it, or naming 127.0.0.53) and
// resolvectl is there to talk to it; otherwise resolv.conf.
func DetectDNSMode(resolvConf string) string {
	_, err := exec.LookPath("resolvectl")
	return detectDNSMode(resolvConf, err == nil)
}

func detectDNSMode(resolvConf string, haveResolvectl bool) string {
	if !haveResolvectl {
		return DNSModeResolvConf
	}
	if target, err := filepath.EvalSymlinks(resolvConf); err == nil && target == ResolvedStubPath {
		return DNSModeResolved
	}
	data, err := os.ReadFile(resolvConf)
	if err == nil && strings.Contains(string(data), "nameserver 127.0.0.53") {
		return DNSModeResolved
	}
	return DNSModeResolvConf
}

// UpstreamResolvConf is the file that lists the resolvers VNet forwards
// to in mode: the one systemd-resolved asks, or resolvConf itself.
func UpstreamResolvConf(mode, resolvConf string) string {
	if mode == DNSModeResolved {
		return ResolvedUpstreamPath
	}
	return resolvConf
}

// resolvedDNS is DNSModeResolved: split DNS through systemd-resolved. The
// device gets VNet's DNS addresses and a "~zone" routing domain per
// captured domain, and is never the default route: only those zones'
// queries reach VNet, every other name keeps its usual path. Nothing is
// rewritten on disk; resolved forgets a link's settings when the link
// goes, and close reverts them at once.
type resolvedDNS struct {
	dev string
	run func(args ...string) error // runs resolvectl; never nil
	// applied is true while the link carries VNet's settings.
	applied bool
}

func newResolvedDNS(dev string) *resolvedDNS {
	return &resolvedDNS{dev: dev, run: runResolvectl}
}

// runResolvectl runs `resolvectl args...`, bounded in time; its output
// becomes the error's text.
func runResolvectl(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "resolvectl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("resolvectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (d *resolvedDNS) apply(s netcfg.Settings) error {
	if len(s.DNSAddrs) == 0 {
		return d.close()
	}
	servers := make([]string, 0, len(s.DNSAddrs))
	for _, a := range s.DNSAddrs {
		servers = append(servers, a.String())
	}
	domains := make([]string, 0, len(s.DNSZones))
	for _, z := range s.DNSZones {
		domains = append(domains, "~"+z)
	}
	steps := [][]string{
		append([]string{"dns", d.dev}, servers...),
		append([]string{"domain", d.dev}, domains...),
		{"default-route", d.dev, "false"},
		// VNet answers only its zones: no multicast name guessing there.
		{"llmnr", d.dev, "false"},
		{"mdns", d.dev, "false"},
	}
	for _, args := range steps {
		if err := d.run(args...); err != nil {
			return fmt.Errorf("systemd-resolved mode: %w", err)
		}
	}
	d.applied = true
	return nil
}

func (d *resolvedDNS) close() error {
	if !d.applied {
		return nil
	}
	d.applied = false
	if err := d.run("revert", d.dev); err != nil {
		return fmt.Errorf("systemd-resolved mode: %w", err)
	}
	return nil
}
