package catalog

import (
	"fmt"
	"strings"

	"github.com/vnetproject/vnet/core/dnsname"
)

// EffectiveAddr is where an app is reached by name: its public address, or
// <lower-cased name>.<proxyHost> when it has none (the proxy's public
// address is the default home of a cluster's apps). When the app can have
// no name, addr is "" and why says so in one line.
func EffectiveAddr(a *App, proxyHost string) (addr, why string) {
	return effectiveAddr(a, proxyHost, proxyHostName(proxyHost))
}

// proxyHostName reports whether proxyHost is a DNS name apps can be named
// under: checked once per cluster, not per app.
func proxyHostName(proxyHost string) bool {
	return proxyHost != "" && checkDomainSyntax(proxyHost) == ""
}

// effectiveAddr is EffectiveAddr with proxyHostName(proxyHost) given.
func effectiveAddr(a *App, proxyHost string, hostIsName bool) (addr, why string) {
	if a.PublicAddr != "" {
		return a.PublicAddr, ""
	}
	label := strings.ToLower(a.Name)
	if why := dnsname.CheckLabel(label); why != "" {
		return "", fmt.Sprintf("app name %q is not a DNS label (%s): it needs a public_addr", a.Name, why)
	}
	if !hostIsName {
		return "", fmt.Sprintf("the cluster's proxy host %q is not a DNS name: the app needs a public_addr", proxyHost)
	}
	return label + "." + proxyHost, ""
}
