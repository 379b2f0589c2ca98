package resource

import (
	"fmt"
	"net/netip"
	"strings"
)

// VNetConfigName is the name of the one vnet_config of a cluster.
const VNetConfigName = "vnet-config"

// DefaultIPv4CIDRRange is the range VNet takes virtual IPv4 addresses from
// when vnet_config does not say: the shared address space of RFC 6598,
// which no LAN uses for itself.
const DefaultIPv4CIDRRange = "100.64.0.0/10"

// minRangeHostBits: a /24 gives 252 addresses for apps; a smaller range
// would run out in an ordinary cluster.
const minRangeHostBits = 8

// minRangeBits: a range larger than a /8 would route a large share of the
// Internet into the TUN device.
const minRangeBits = 8

// specialRanges are IPv4 blocks a range must not overlap: traffic to them
// never leaves the host or has its own meaning (RFC 6890).
var specialRanges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\""},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
}

// VNetConfig is the cluster's VNet settings: the range of virtual IPv4
// addresses and the DNS zones VNet captures besides the proxy's address.
// There is one per cluster, named "vnet-config".
type VNetConfig struct {
	Header `yaml:",inline" json:",inline"`
	Spec   VNetConfigSpec `yaml:"spec" json:"spec"`
}

// VNetConfigSpec is the spec of a VNetConfig.
type VNetConfigSpec struct {
	// IPv4CIDRRange is a masked IPv4 prefix of at least 8 host bits;
	// DefaultIPv4CIDRRange if empty.
	IPv4CIDRRange string `yaml:"ipv4_cidr_range,omitempty" json:"ipv4_cidr_range,omitempty"`
	// CustomDNSZones are captured with every name below them.
	CustomDNSZones []DNSZone `yaml:"custom_dns_zones,omitempty" json:"custom_dns_zones,omitempty"`
}

// DNSZone is a custom DNS zone: a suffix such as company.test, stored
// lower-case without a trailing dot.
type DNSZone struct {
	Suffix string `yaml:"suffix" json:"suffix"`
}

// DefaultVNetConfig returns the vnet_config a cluster has when none was
// created: the default range and no custom zones.
func DefaultVNetConfig() *VNetConfig {
	return &VNetConfig{
		Header: Header{KindField: KindVNetConfig, Version: V1, Metadata: Metadata{Name: VNetConfigName}},
		Spec:   VNetConfigSpec{IPv4CIDRRange: DefaultIPv4CIDRRange},
	}
}

// Kind implements Resource.
func (c *VNetConfig) Kind() string { return KindVNetConfig }

// IPv4Prefix returns the parsed range; the zero Prefix if the spec has not
// passed CheckAndSetDefaults.
func (s *VNetConfigSpec) IPv4Prefix() netip.Prefix {
	p, err := netip.ParsePrefix(s.IPv4CIDRRange)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// CheckAndSetDefaults implements Resource.
func (c *VNetConfig) CheckAndSetDefaults() error {
	if err := c.Header.check(KindVNetConfig); err != nil {
		return err
	}
	fail := func(field, format string, args ...any) error {
		return newError(KindVNetConfig, c.Metadata.Name, field, format, args...)
	}
	if c.Metadata.Name != VNetConfigName {
		return fail("metadata.name", "must be %q (a cluster has one vnet_config), not %q", VNetConfigName, c.Metadata.Name)
	}

	if c.Spec.IPv4CIDRRange == "" {
		c.Spec.IPv4CIDRRange = DefaultIPv4CIDRRange
	}
	p, reason := checkRange(c.Spec.IPv4CIDRRange)
	if reason != "" {
		return fail("spec.ipv4_cidr_range", "%q %s", c.Spec.IPv4CIDRRange, reason)
	}
	c.Spec.IPv4CIDRRange = p.String()

	if len(c.Spec.CustomDNSZones) == 0 {
		c.Spec.CustomDNSZones = nil // one form for "no zones"
	}
	seen := make(map[string]int, len(c.Spec.CustomDNSZones))
	for i := range c.Spec.CustomDNSZones {
		z := &c.Spec.CustomDNSZones[i]
		field := fmt.Sprintf("spec.custom_dns_zones[%d].suffix", i)
		if z.Suffix == "" {
			return fail(field, "required (e.g. company.test)")
		}
		suffix := normalizeDNSName(z.Suffix)
		if rest, ok := strings.CutPrefix(suffix, "*."); ok {
			return fail(field, "%q is a wildcard: a zone already matches every name below it, use %q", z.Suffix, rest)
		}
		if reason := checkDNSName(suffix); reason != "" {
			return fail(field, "%q %s", z.Suffix, reason)
		}
		if !strings.Contains(suffix, ".") {
			return fail(field, "%q is a single label: a zone needs at least two (e.g. company.%s), since capturing a whole top-level domain is almost surely a mistake", z.Suffix, suffix)
		}
		if j, dup := seen[suffix]; dup {
			return fail(field, "%q is listed twice (also custom_dns_zones[%d])", z.Suffix, j)
		}
		seen[suffix] = i
		z.Suffix = suffix
	}
	return nil
}

// checkRange parses an ipv4_cidr_range and returns why it is unusable, or
// "" and the prefix.
func checkRange(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, "is not a valid CIDR range (e.g. " + DefaultIPv4CIDRRange + ")"
	}
	if !p.Addr().Is4() {
		return p, "is an IPv6 range: IPv4 only (VNet derives IPv6 addresses itself)"
	}
	if p.Masked() != p {
		return p, fmt.Sprintf("has host bits set: the network address is %s", p.Masked())
	}
	if hostBits := 32 - p.Bits(); hostBits < minRangeHostBits {
		return p, fmt.Sprintf("is too small: it must have at least %d host bits (/%d or larger)", minRangeHostBits, 32-minRangeHostBits)
	}
	if p.Bits() < minRangeBits {
		return p, fmt.Sprintf("is too large: it must be /%d or smaller", minRangeBits)
	}
	for _, sr := range specialRanges {
		if p.Overlaps(sr.prefix) {
			return p, fmt.Sprintf("overlaps %s (%s): choose a private range such as %s", sr.prefix, sr.what, DefaultIPv4CIDRRange)
		}
	}
	return p, ""
}
