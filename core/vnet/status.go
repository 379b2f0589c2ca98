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
	// Overlaps are domains several clusters capture, and who gets them.
	Overlaps []string `json:"overlaps,omitempty"`
}

// AppStatus is one app as VNet serves it.
type AppStatus struct {
	Cluster    string     `json:"cluster"`
	Name       string     `json:"name"`
	PublicAddr string     `json:"public_addr"`
	IPv4       netip.Addr `json:"ipv4,omitzero"`
	IPv6       netip.Addr `json:"ipv6,omitzero"`
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
	e.mu.Unlock()
	st.Clusters = e.cfg.Catalog.Status()
	snap := e.cfg.Catalog.Current()
	st.Overlaps = snap.Overlaps()
	for i := range snap.Clusters {
		c := &snap.Clusters[i]
		for _, a := range c.Apps {
			as := AppStatus{Cluster: c.Name, Name: a.Name, PublicAddr: a.PublicAddr}
			if f, ok := e.failures.get(appRef{Cluster: c.Name, Via: c.Via, App: a.Name}); ok {
				as.LastError, as.LastErrorTime = f.err, f.at
			}
			if v4, ok := e.addrs.addrOf(c.Name, a.PublicAddr); ok {
				as.IPv4 = v4
				if e.cfg.ULA.IsValid() {
					as.IPv6 = ipam.MapToIPv6(e.cfg.ULA, v4)
				}
			}
			st.Apps = append(st.Apps, as)
		}
	}
	slices.SortFunc(st.Apps, func(a, b AppStatus) int {
		return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Name, b.Name))
	})
	return st
}
