package catalog

import (
	"fmt"
	"strings"
)

// maxLabelLen is the longest DNS label (RFC 1035 section 2.3.4).
const maxLabelLen = 63

// EffectiveAddr is where an app is reached by name: its public address, or
// <lower-cased name>.<proxyHost> when it has none (the proxy's public
// address is the default home of a cluster's apps). When the app can have
// no name, addr is "" and why says so in one line.
func EffectiveAddr(a *App, proxyHost string) (addr, why string) {
	if a.PublicAddr != "" {
		return a.PublicAddr, ""
	}
	label := strings.ToLower(a.Name)
	if why := checkLabel(label); why != "" {
		return "", fmt.Sprintf("app name %q %s: it needs a public_addr", a.Name, why)
	}
	if proxyHost == "" || checkDomainSyntax(proxyHost) != "" {
		return "", fmt.Sprintf("the cluster's proxy host %q is not a DNS name: the app needs a public_addr", proxyHost)
	}
	return label + "." + proxyHost, ""
}

// checkLabel returns why the lower-cased label is not a DNS label (RFC
// 1123: letters, digits and '-', not at either end, 1-63 bytes), or "".
func checkLabel(l string) string {
	switch {
	case l == "":
		return "is empty"
	case len(l) > maxLabelLen:
		return fmt.Sprintf("is not a DNS label (%d bytes, at most %d)", len(l), maxLabelLen)
	case l[0] == '-' || l[len(l)-1] == '-':
		return "is not a DNS label (starts or ends with '-')"
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Sprintf("is not a DNS label (contains %q; letters, digits and '-' only)", r)
		}
	}
	return ""
}
