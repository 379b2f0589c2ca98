package resource

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// KindRemoteCluster is a leaf cluster as its root sees it.
const KindRemoteCluster = "remote_cluster"

func init() {
	kinds[KindRemoteCluster] = func() Resource { return new(RemoteCluster) }
}

// RemoteCluster is a leaf cluster that joined this (root) cluster. It is
// recorded by the leaf's join, not by hand; the root's admin edits its
// grants (vnet ctl edit remote_cluster/NAME) and removing it ends the
// trust.
//
//	kind: remote_cluster
//	version: v1
//	metadata:
//	  name: leaf.test
//	spec:
//	  grants:                  # what the leaf may claim besides its proxy's host
//	    zones: [leafcorp.test]
//	    ipv4_cidr_range: 100.70.0.0/16
//	status:                    # read-only
//	  connected: true
//	  joined: 2025-01-02T03:04:05Z
//	  proxy_public_addr: proxy.leaf.test:3080
//	  refused:                 # the leaf's claims the root drops, one line each
//	    - 'zone company.test: not granted ...'
type RemoteCluster struct {
	Header `yaml:",inline" json:",inline"`
	Spec   RemoteClusterSpec    `yaml:"spec" json:"spec"`
	Status *RemoteClusterStatus `yaml:"status,omitempty" json:"status,omitempty"`
}

// RemoteClusterSpec is what the root's admin decides about a leaf.
type RemoteClusterSpec struct {
	Grants LeafGrants `yaml:"grants" json:"grants"`
}

// LeafGrants is what a root lets one leaf claim besides its own proxy's
// host: DNS zones (each with every name below it) and an IPv4 range. A
// leaf without a granted range takes addresses from its root's range.
type LeafGrants struct {
	// Zones are lower-case without a trailing dot.
	Zones []string `yaml:"zones,omitempty" json:"zones,omitempty"`
	// IPv4CIDRRange is a masked IPv4 prefix, or "" for none.
	IPv4CIDRRange string `yaml:"ipv4_cidr_range,omitempty" json:"ipv4_cidr_range,omitempty"`
}

// RemoteClusterStatus is what the root knows of a leaf.
type RemoteClusterStatus struct {
	Connected       bool      `yaml:"connected" json:"connected"`
	Joined          time.Time `yaml:"joined" json:"joined"`
	ProxyPublicAddr string    `yaml:"proxy_public_addr,omitempty" json:"proxy_public_addr,omitempty"`
	// Refused are the leaf's claims that the root recently dropped from
	// what it sends its users, one line each.
	Refused []string `yaml:"refused,omitempty" json:"refused,omitempty"`
}

// NewRemoteCluster returns the resource for the leaf called name.
func NewRemoteCluster(name string, grants LeafGrants, status *RemoteClusterStatus) *RemoteCluster {
	return &RemoteCluster{
		Header: Header{KindField: KindRemoteCluster, Version: V1, Metadata: Metadata{Name: name}},
		Spec:   RemoteClusterSpec{Grants: grants},
		Status: status,
	}
}

// Kind implements Resource.
func (r *RemoteCluster) Kind() string { return KindRemoteCluster }

// CheckAndSetDefaults implements Resource.
func (r *RemoteCluster) CheckAndSetDefaults() error {
	if err := r.Header.check(KindRemoteCluster); err != nil {
		return err
	}
	if field, reason := r.Spec.Grants.check(); reason != "" {
		return newError(KindRemoteCluster, r.Metadata.Name, "spec.grants."+field, "%s", reason)
	}
	return nil
}

// CheckAndSetDefaults validates and normalises grants made outside a
// resource (a join token's): its error names the field as ipv4_cidr_range
// or zones[i].
func (g *LeafGrants) CheckAndSetDefaults() error {
	if field, reason := g.check(); reason != "" {
		return fmt.Errorf("%s: %s", field, reason)
	}
	return nil
}

// check normalises g and returns the field that is wrong and why, or "".
func (g *LeafGrants) check() (field, reason string) {
	if len(g.Zones) == 0 {
		g.Zones = nil // one form for "no zones"
	}
	seen := make(map[string]int, len(g.Zones))
	for i, z := range g.Zones {
		field := fmt.Sprintf("zones[%d]", i)
		zone := normalizeDNSName(z)
		if rest, ok := strings.CutPrefix(zone, "*."); ok {
			return field, fmt.Sprintf("%q is a wildcard: a zone already holds every name below it, use %q", z, rest)
		}
		if reason := checkDNSName(zone); reason != "" {
			return field, fmt.Sprintf("%q %s", z, reason)
		}
		if !strings.Contains(zone, ".") {
			return field, fmt.Sprintf("%q is a single label: a zone needs at least two (e.g. leaf.%s)", z, zone)
		}
		if j, dup := seen[zone]; dup {
			return field, fmt.Sprintf("%q is listed twice (also zones[%d])", z, j)
		}
		seen[zone] = i
		g.Zones[i] = zone
	}
	if g.IPv4CIDRRange != "" {
		p, reason := checkRange(g.IPv4CIDRRange)
		if reason != "" {
			return "ipv4_cidr_range", fmt.Sprintf("%q %s", g.IPv4CIDRRange, reason)
		}
		g.IPv4CIDRRange = p.String()
	}
	return "", ""
}

// IPv4Prefix returns the granted range, or the zero Prefix if none (or
// if g has not been checked).
func (g *LeafGrants) IPv4Prefix() netip.Prefix {
	p, err := netip.ParsePrefix(g.IPv4CIDRRange)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}
