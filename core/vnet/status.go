package vnet

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vnetproject/vnet/core/netcfg"
)

// Status is what `vnet status` shows.
type Status struct {
	Running  bool            `json:"running"`
	Since    time.Time       `json:"since,omitzero"`
	Settings netcfg.Settings `json:"settings"`
	Apps     []AppStatus     `json:"apps"`
}

// AppStatus is one app as VNet serves it.
type AppStatus struct {
	Cluster    string     `json:"cluster"`
	Name       string     `json:"name"`
	PublicAddr string     `json:"public_addr"`
	IPv4       netip.Addr `json:"ipv4,omitzero"`
}

// Status reports what the engine is doing now.
func (e *Engine) Status() Status {
	e.mu.Lock()
	st := Status{Running: !e.started.IsZero(), Since: e.started, Settings: e.settings}
	e.mu.Unlock()
	snap := e.cfg.Catalog.Current()
	for i := range snap.Clusters {
		c := &snap.Clusters[i]
		for j := range c.Apps {
			a := &c.Apps[j]
			as := AppStatus{Cluster: c.Name, Name: a.Name, PublicAddr: a.PublicAddr}
			if a.PublicAddr != "" {
				as.IPv4, _ = e.addrs.assign(c, a)
			}
			st.Apps = append(st.Apps, as)
		}
	}
	slices.SortFunc(st.Apps, func(a, b AppStatus) int {
		return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Name, b.Name))
	})
	return st
}
