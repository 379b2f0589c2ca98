package catalog

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/vnetproject/vnet/core/dnsname"
)

// maxNameLen is the longest DNS name in text form (RFC 1035 section 2.3.4).
const maxNameLen = 253

// CheckZone returns why the normalised domain may not be captured by a
// cluster, or "". A zone must be a real domain strictly below a public
// suffix: a cluster may not take "com", "co.uk" or the root. An unknown
// top-level domain counts as a one-label public suffix, so "company.test"
// may be a zone and "test" may not.
func CheckZone(d string) string {
	if why := checkDomainSyntax(d); why != "" {
		return why
	}
	if suffix, _ := publicsuffix.PublicSuffix(d); d == suffix {
		return fmt.Sprintf("%s is a public suffix: a cluster may only claim a domain below it", d)
	}
	return ""
}

// checkDomainSyntax returns why d is not a DNS name of two or more labels,
// or "". Underscores are allowed in zones (service names use them).
func checkDomainSyntax(d string) string {
	if d == "" {
		return "the root domain may not be claimed"
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return d + " is an IP address, not a domain"
	}
	if len(d) > maxNameLen {
		return fmt.Sprintf("%d characters is longer than a DNS name may be", len(d))
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > dnsname.MaxLabelLen {
			return fmt.Sprintf("%q is not a DNS name (empty or over-long label)", d)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Sprintf("%q is not a DNS name (contains %q)", d, r)
			}
		}
	}
	return ""
}
