package resource

import (
	"fmt"
	"net"

	"github.com/vnetproject/vnet/core/dnsname"
)

// An app's address is the DNS name clients reach it at: spec.public_addr,
// or by default <metadata.name>.<the proxy's public host> (issue 9). One
// address belongs to one app of a cluster: the app stored first keeps it.

// CheckNew checks what an app must satisfy to be created (cluster.yaml,
// 'vnet ctl create', an agent's registration) beyond CheckAndSetDefaults:
// without spec.public_addr its name must be a DNS label, since the name
// is then the first label of its address. It is not part of
// CheckAndSetDefaults so that an app stored before the rule still reads.
func (a *App) CheckNew() error {
	if a.Metadata.Origin != "" {
		// Only cluster.yaml makes such an app; a copy saved back through
		// the API would be changed at the next start.
		return newError(KindApp, a.Metadata.Name, "", "metadata.origin %q is set by the cluster: an app with origin config is defined in cluster.yaml: change it there", a.Metadata.Origin)
	}
	if a.Spec.PublicAddr != "" {
		return nil
	}
	if reason := dnsname.CheckLabel(normalizeDNSName(a.Metadata.Name)); reason != "" {
		return newError(KindApp, a.Metadata.Name, "", "metadata.name %q is not a DNS label (%s): set spec.public_addr or rename the app", a.Metadata.Name, reason)
	}
	return nil
}

// ProxyHost returns the host of a proxy public address (host:port, or a
// bare host), lower-cased without a trailing dot: the domain of the
// cluster's default app addresses.
func ProxyHost(publicAddr string) string {
	host, _, err := net.SplitHostPort(publicAddr)
	if err != nil {
		host = publicAddr
	}
	return normalizeDNSName(host)
}

// Addr returns the app's address: spec.public_addr, or the default
// <name>.<proxyHost>. Both are lower-case without a trailing dot.
func (a *App) Addr(proxyHost string) string {
	if a.Spec.PublicAddr != "" {
		return normalizeDNSName(a.Spec.PublicAddr)
	}
	return normalizeDNSName(a.Metadata.Name) + "." + normalizeDNSName(proxyHost)
}

// AddrInUseError says that an app's address already belongs to another
// app, or is the proxy's own host. Its message is one line.
type AddrInUseError struct {
	App    string // the app refused
	Addr   string // its address
	Holder string // the app holding Addr; "" when Addr is the proxy's own host
	// Default: Addr is the app's default address (it has no public_addr).
	Default bool
}

func (e *AddrInUseError) Error() string {
	what := fmt.Sprintf("spec.public_addr %q", e.Addr)
	if e.Default {
		what = fmt.Sprintf("its default address %q (no spec.public_addr)", e.Addr)
	}
	if e.Holder == "" {
		return fmt.Sprintf("app %q: %s is the proxy's own address: set another spec.public_addr", e.App, what)
	}
	return fmt.Sprintf("app %q: %s is already the address of app %q", e.App, what, e.Holder)
}

// CheckAddrFree returns an *AddrInUseError if app's address is the proxy's
// own host or the address of another app (by name) of apps, or nil. The
// caller decides who came first: apps are those already stored.
func CheckAddrFree(app *App, apps []*App, proxyHost string) error {
	addr := app.Addr(proxyHost)
	fail := func(holder string) error {
		return &AddrInUseError{App: app.Name(), Addr: addr, Holder: holder, Default: app.Spec.PublicAddr == ""}
	}
	if addr == normalizeDNSName(proxyHost) {
		return fail("")
	}
	for _, other := range apps {
		if other.Name() != app.Name() && other.Addr(proxyHost) == addr {
			return fail(other.Name())
		}
	}
	return nil
}
