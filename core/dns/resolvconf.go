package dns

import (
	"bytes"
	"net/netip"
	"strings"
)

// ParseResolvConf returns the nameservers of a resolv.conf(5) file, in
// order and without duplicates, each on port 53. Like glibc it reads only
// the first word after "nameserver", skips lines it cannot parse, and
// ignores comments and other keywords. A link-local IPv6 address keeps its
// %zone (it is needed to reach it); a zone on an IPv4 address is dropped.
func ParseResolvConf(data []byte) ([]netip.AddrPort, error) {
	var (
		out  []netip.AddrPort
		seen = map[netip.AddrPort]bool{}
	)
	for line := range bytes.Lines(data) {
		fields := strings.Fields(string(line))
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue // blank, comment ('#' or ';'), option or other keyword
		}
		addr, ok := parseNameserver(fields[1])
		if !ok {
			continue
		}
		ap := netip.AddrPortFrom(addr, 53)
		if !seen[ap] {
			seen[ap] = true
			out = append(out, ap)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoNameservers
	}
	return out, nil
}

func parseNameserver(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	host, _, hasZone := strings.Cut(s, "%")
	if !hasZone {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}
