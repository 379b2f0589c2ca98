// Package dnsname holds the DNS name rules that the cluster (checking a
// resource) and the laptop (checking a catalog) both apply, so that the
// two never disagree on what a name is.
package dnsname

import "fmt"

// MaxLabelLen is the longest DNS label (RFC 1035 section 2.3.4).
const MaxLabelLen = 63

// CheckLabel returns why the lower-cased l is not one DNS label (RFC 1123:
// letters, digits and '-', not at either end, 1-63 bytes), or "".
func CheckLabel(l string) string {
	switch {
	case l == "":
		return "it is empty"
	case len(l) > MaxLabelLen:
		return fmt.Sprintf("%d bytes, at most %d", len(l), MaxLabelLen)
	case l[0] == '-' || l[len(l)-1] == '-':
		return "it starts or ends with '-'"
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Sprintf("it contains %q; use letters, digits and '-'", r)
		}
	}
	return ""
}
