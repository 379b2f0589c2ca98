package vnet

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/ipam"
	"github.com/vnetproject/vnet/core/netcfg"
)

// Status is what `vnet status` shows.
type Status struct {
	Running  bool                    `json:"running"`
	Since    time.Time               `json:"since,omitzero"`
	Settings netcfg.Settings         `json:"settings"`
	Clusters []catalog.ClusterStatus `json:"clusters"`
	Apps     []AppStatus             `json:"apps"`
	Problems []string                `json:"problems,omitempty"`
	// Refused are the claims (zones, ranges, names) the laptop refused,
	// and those the clusters' roots refused, each with its reason. The
	// rest works.
	Refused []catalog.Refusal `json:"refused,omitempty"`
}

// AppStatus is one app as VNet serves it.
type AppStatus struct {
	ClusterID string `json:"cluster_id"` // who the cluster is (its profile's proxy address, or root/leaf)
	Cluster   string `json:"cluster"`    // the name it reports
	Name      string `json:"name"`
	// PublicAddr is the app's effective address: its public_addr, or
	// <name>.<proxy host> (then DefaultAddr is true). Empty when it can
	// have no name.
	PublicAddr  string     `json:"public_addr"`
	DefaultAddr bool       `json:"default_addr,omitempty"`
	IPv4        netip.Addr `json:"ipv4,omitzero"`
	IPv6        netip.Addr `json:"ipv6,omitzero"`
	// Unreachable is why the app has no name or no address, in one line.
	Unreachable string `json:"unreachable,omitempty"`
	// LastError is what the cluster said about the last connection to the
	// app that failed, if any, and when: the reason a client only saw
	// "connection refused".
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// Status reports what the engine is doing now.
func (e *Engine) Status() Status {
	e.mu.Lock()
	st := Status{Running: !e.started.IsZero(), Since: e.started, Settings: e.settings, Problems: slices.Clone(e.problems)}
	rangeRefusals := slices.Clone(e.refused)
	e.mu.Unlock()
	st.Clusters = e.cfg.Catalog.Status()
	snap := e.cfg.Catalog.Current()
	st.Refused = append(slices.Clone(snap.Refused), rangeRefusals...)
	n := 0
	for i := range snap.Clusters {
		n += len(snap.Clusters[i].Apps)
	}
	if n > 0 {
		st.Apps = make([]AppStatus, 0, n) // grown by appends, 100,000 apps cost twice as much
	}
	for i := range snap.Clusters {
		c := &snap.Clusters[i]
		for j := range c.Apps {
			st.Apps = append(st.Apps, e.appStatus(c, &c.Apps[j], rangeRefusals))
		}
	}
	slices.SortFunc(st.Apps, appOrder)
	return st
}

// FirstApps is the first n apps of Status().Apps that have an IPv4
// address, and how many apps have one: what `vnet up` prints when VNet
// comes up. It builds no list over every app (Status at 100,000 apps
// makes 100,000 AppStatus, about 20 MiB, and sorts them).
func (e *Engine) FirstApps(n int) (first []AppStatus, addressed int) {
	e.mu.Lock()
	rangeRefusals := slices.Clone(e.refused)
	e.mu.Unlock()
	snap := e.cfg.Catalog.Current()
	for i := range snap.Clusters {
		c := &snap.Clusters[i]
		for j := range c.Apps {
			a := &c.Apps[j]
			if a.Unnamed != "" {
				continue
			}
			if _, ok := e.addrs.addrOf(c.ID, a.Addr); !ok {
				continue
			}
			addressed++
			key := AppStatus{Cluster: c.Name, ClusterID: c.ID, Name: a.Name}
			at, _ := slices.BinarySearchFunc(first, key, appOrder)
			switch {
			case len(first) < n:
				first = slices.Insert(first, at, e.appStatus(c, a, rangeRefusals))
			case at < n:
				copy(first[at+1:], first[at:n-1])
				first[at] = e.appStatus(c, a, rangeRefusals)
			}
		}
	}
	return first, addressed
}

// appOrder is the order of Status().Apps: by cluster, then app.
func appOrder(a, b AppStatus) int {
	return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.ClusterID, b.ClusterID), strings.Compare(a.Name, b.Name))
}

// appStatus is app a of cluster c as Status shows it.
func (e *Engine) appStatus(c *catalog.Cluster, a *catalog.App, rangeRefusals []catalog.Refusal) AppStatus {
	as := AppStatus{ClusterID: c.ID, Cluster: c.Name, Name: a.Name, PublicAddr: a.Addr, DefaultAddr: a.PublicAddr == "" && a.Addr != "", Unreachable: a.Unnamed}
	if f, ok := e.failures.get(appRef{ClusterID: c.ID, Cluster: c.Name, Via: c.Via, App: a.Name}); ok {
		as.LastError, as.LastErrorTime = f.err, f.at
	}
	if v4, ok := e.addrs.addrOf(c.ID, a.Addr); ok && a.Unnamed == "" {
		as.IPv4 = v4
		if e.cfg.ULA.IsValid() {
			as.IPv6 = ipam.MapToIPv6(e.cfg.ULA, v4)
		}
	} else if as.Unreachable == "" {
		as.Unreachable = noAddress(c.ID, rangeRefusals)
	}
	return as
}

// noAddress says why an app with a name of cluster id has no address.
func noAddress(id string, refused []catalog.Refusal) string {
	for _, r := range refused {
		if r.Cluster == id {
			return "no address: the cluster's range " + r.Claim + " was refused: " + r.Reason
		}
	}
	return "no address: see the problems in vnet status"
}
