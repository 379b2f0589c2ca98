package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"

	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
	"github.com/vnetproject/vnet/core/vnet"
)

// upPrinter tells the person who ran `vnet up`, on stdout, what VNet does
// as it does it: the TUN device, each cluster's catalog (or why it has not
// loaded), DNS, then "VNet is up" with the apps, and each change after
// that. The engine's log says the same for machines. It is the engine's
// vnet.Progress and hears, from the host, the settings the OS took. The
// engine runs as the user; under `sudo vnet up` its stdout is the
// launcher's, so this reaches the terminal that ran sudo.
type upPrinter struct {
	w io.Writer

	mu sync.Mutex
	up bool // guarded by mu; "VNet is up" was said
}

func (p *upPrinter) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// tunCreated: the root helper made the device and handed it over.
func (p *upPrinter) tunCreated(name string, mtu int) {
	p.printf("TUN device %s created (MTU %d).\n", name, mtu)
}

// Cluster says a login's catalog loaded, or why not (vnet.Progress).
func (p *upPrinter) Cluster(c vnet.ClusterStatus) {
	if c.Connected {
		leaves := ""
		if len(c.Leaves) > 0 {
			leaves = fmt.Sprintf(", leaves %s", strings.Join(c.Leaves, ", "))
		}
		p.printf("catalog loaded: %d apps (cluster %s, proxy %s%s)\n", c.Apps, c.Name, c.ID, leaves)
		return
	}
	why := oneLine(errors.New(c.Error)) // in words, without gRPC's framing
	if c.Updated.IsZero() {
		p.printf("catalog not loaded yet from %s: %s; retrying with back-off\n", c.ID, why)
		return
	}
	p.printf("catalog of %s (%s) lost: %s; its last apps stay served, retrying with back-off\n", c.Name, c.ID, why)
}

// AppsChanged says which apps came and went once VNet is up; the first
// catalog's apps are listed with "VNet is up" (vnet.Progress).
func (p *upPrinter) AppsChanged(changes vnet.AppChanges) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.up {
		return
	}
	if changes.Len() > maxPrintedApps {
		fmt.Fprintf(p.w, "%d apps available, %d gone: vnet status lists them all.\n", changes.Added, changes.Gone)
		return
	}
	for _, c := range changes.List {
		what := "app gone:     "
		if c.Added {
			what = "app available:"
		}
		fmt.Fprintf(p.w, "%s %-28s %-16s (%s/%s at %s)\n", what, c.Name, c.Addr, c.Cluster, c.App, c.ClusterID)
	}
}

// applied says what the OS now does for VNet: the first time the device's
// addresses and routes, how DNS was configured (dnsMode, as the helper
// does it) and "VNet is up" with apps, the first apps at an address
// (vnet.Runner.FirstApps), and how many more of the addressed there are;
// later, what changed.
func (p *upPrinter) applied(tun string, s netcfg.Settings, dnsMode string, upstream []netip.AddrPort, apps []vnet.AppStatus, addressed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.up {
		fmt.Fprintf(p.w, "VNet's settings changed: routes %s; DNS for %s.\n", orNone(joinStrings(s.Routes)), orNone(strings.Join(s.DNSZones, ", ")))
		return
	}
	p.up = true
	addrs := s.TunAddr4.String()
	if s.TunAddr6.IsValid() {
		addrs += ", " + s.TunAddr6.String()
	}
	fmt.Fprintf(p.w, "TUN device %s: addresses %s; routes %s.\n", tun, addrs, orNone(joinStrings(s.Routes)))
	dnsAt, zones := joinStrings(s.DNSAddrs), orNone(strings.Join(s.DNSZones, ", "))
	switch dnsMode {
	case platform.DNSModeResolved:
		fmt.Fprintf(p.w, "DNS configured with systemd-resolved: %s go to VNet's DNS at %s; other names as before.\n", zones, dnsAt)
	case platform.DNSModeResolvConf:
		fmt.Fprintf(p.w, "DNS configured in %s: every name goes to VNet's DNS at %s, which answers %s and forwards the rest.\n", platform.DefaultResolvConfPath, dnsAt, zones)
	default:
		fmt.Fprintf(p.w, "DNS left as it is (--dns-mode %s): ask VNet's DNS at %s for %s.\n", dnsMode, dnsAt, zones)
	}
	fmt.Fprintf(p.w, "VNet is up: device address %s, DNS at %v for %v, other names forwarded to %v.\n", s.TunAddr4, s.DNSAddrs, s.DNSZones, upstream)
	for _, a := range apps {
		fmt.Fprintf(p.w, "  %-28s %-16s %-28s (%s/%s at %s)\n", a.PublicAddr, a.IPv4, optional(a.IPv6.String(), a.IPv6.IsValid()), a.Cluster, a.Name, a.ClusterID)
	}
	if more := addressed - len(apps); more > 0 {
		fmt.Fprintf(p.w, "  ... and %d more apps: %s.\n", more, allAppsHint)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
