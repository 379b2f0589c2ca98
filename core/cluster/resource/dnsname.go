package resource

import (
	"fmt"
	"net/netip"
	"strings"
)

// DNS name limits, RFC 1035 section 2.3.4 (253 = 255 octets on the wire
// minus the length of the first label and the root).
const (
	maxDNSNameLen  = 253
	maxDNSLabelLen = 63
)

// normalizeDNSName lower-cases name (ASCII only, so that no Unicode folding
// such as the Kelvin sign turns into a letter) and strips one trailing dot.
func normalizeDNSName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return strings.TrimSuffix(string(b), ".")
}

// checkDNSName returns why the normalised name is not a usable host name
// (RFC 1123 letters, digits and hyphens), or "".
func checkDNSName(name string) string {
	if name == "" {
		return "is empty"
	}
	if strings.Contains(name, "*") {
		return "contains a wildcard '*', which is not allowed"
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return "is an IP address, not a DNS name"
	}
	if len(name) > maxDNSNameLen {
		return fmt.Sprintf("is too long (%d characters, at most %d)", len(name), maxDNSNameLen)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return "has an empty label (two dots in a row or a leading dot)"
		case len(l) > maxDNSLabelLen:
			return fmt.Sprintf("has a label longer than %d characters", maxDNSLabelLen)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Sprintf("has a label %q that starts or ends with '-'", l)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Sprintf("contains %q: use letters, digits, '-' and '.' (punycode for international names)", r)
			}
		}
	}
	if isDigits(labels[len(labels)-1]) {
		// RFC 3696 section 2: a top-level domain is never all-numeric, and
		// such a name would be read as an IPv4 address by many tools.
		return fmt.Sprintf("ends with the all-numeric label %q, which is not a DNS name", labels[len(labels)-1])
	}
	return ""
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
