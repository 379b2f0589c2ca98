package main

import (
	"net/netip"
	"time"

	"github.com/vnetproject/vnet/core/diag"
)

// The JSON vnet_status and vnet_diagnose write. These are the bridge's own
// types, not the engine's marshalled as they are: a field the engine adds
// or renames reaches the Swift app only when it is copied here, where the
// golden files (testdata/*.golden.json, TestGoldenJSON) and
// scripts/check-swift.sh hold it to what the Swift code decodes. The
// other JSON the bridge exchanges is its own already: StartConfig
// (config.go), TunnelSettings (nesettings.go), ProfileList (profiles.go).

// StatusJSON is what vnet_status writes.
type StatusJSON struct {
	State   State        `json:"state"`
	Error   string       `json:"error,omitempty"`
	Engine  EngineStatus `json:"engine"`
	Packets PacketCounts `json:"packets"`
	Process ProcessStats `json:"process"`
}

// EngineStatus is the engine's status (vnet.Status), as `vnet status`
// shows it.
type EngineStatus struct {
	Running  bool            `json:"running"`
	Since    time.Time       `json:"since,omitzero"`
	Settings NetworkSettings `json:"settings"`
	Clusters []ClusterStatus `json:"clusters"`
	Apps     []AppStatus     `json:"apps"`
	Problems []string        `json:"problems,omitempty"`
	// Refused are the claims of clusters that the laptop (or their root)
	// refused; the rest works.
	Refused []Refusal `json:"refused,omitempty"`
}

// NetworkSettings are the settings the engine asks of the OS
// (netcfg.Settings); apply_settings gets them shaped for the Network
// Extension instead (TunnelSettings).
type NetworkSettings struct {
	TunAddr4 netip.Addr     `json:"tun_addr4"`
	TunAddr6 netip.Addr     `json:"tun_addr6,omitzero"`
	Routes   []netip.Prefix `json:"routes"`
	DNSAddrs []netip.Addr   `json:"dns_addrs"`
	DNSZones []string       `json:"dns_zones"`
	MTU      int            `json:"mtu"`
}

// ClusterStatus is one login's cluster and how following it goes
// (catalog.ClusterStatus).
type ClusterStatus struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Leaves    []string  `json:"leaves,omitempty"`
	Connected bool      `json:"connected"`
	Updated   time.Time `json:"updated,omitzero"`
	Error     string    `json:"error,omitempty"`
}

// AppStatus is one app as VNet serves it (vnet.AppStatus).
type AppStatus struct {
	ClusterID     string     `json:"cluster_id"`
	Cluster       string     `json:"cluster"`
	Name          string     `json:"name"`
	PublicAddr    string     `json:"public_addr"`
	DefaultAddr   bool       `json:"default_addr,omitempty"`
	IPv4          netip.Addr `json:"ipv4,omitzero"`
	IPv6          netip.Addr `json:"ipv6,omitzero"`
	Unreachable   string     `json:"unreachable,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastErrorTime time.Time  `json:"last_error_time,omitzero"`
}

// Refusal is one refused claim (catalog.Refusal).
type Refusal struct {
	Cluster     string `json:"cluster"`
	ClusterName string `json:"cluster_name"`
	Kind        string `json:"kind"`
	Claim       string `json:"claim"`
	Holder      string `json:"holder,omitempty"`
	Reason      string `json:"reason"`
}

// DiagnosisJSON is what vnet_diagnose writes: every finding of core/diag,
// in order.
type DiagnosisJSON struct {
	Checks []Check `json:"checks"`
}

// Check is one finding.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// statusJSON copies st into the bridge's types. Nil slices stay nil (JSON
// null), as in the engine's own JSON.
func statusJSON(st Status) StatusJSON {
	s := st.Engine
	e := EngineStatus{
		Running: s.Running,
		Since:   s.Since,
		Settings: NetworkSettings{
			TunAddr4: s.Settings.TunAddr4,
			TunAddr6: s.Settings.TunAddr6,
			Routes:   s.Settings.Routes,
			DNSAddrs: s.Settings.DNSAddrs,
			DNSZones: s.Settings.DNSZones,
			MTU:      s.Settings.MTU,
		},
		Problems: s.Problems,
	}
	if s.Clusters != nil {
		e.Clusters = make([]ClusterStatus, len(s.Clusters))
		for i, c := range s.Clusters {
			e.Clusters[i] = ClusterStatus{ID: c.ID, Name: c.Name, Leaves: c.Leaves, Connected: c.Connected, Updated: c.Updated, Error: c.Error}
		}
	}
	if s.Apps != nil {
		e.Apps = make([]AppStatus, len(s.Apps))
		for i, a := range s.Apps {
			e.Apps[i] = AppStatus{
				ClusterID: a.ClusterID, Cluster: a.Cluster, Name: a.Name,
				PublicAddr: a.PublicAddr, DefaultAddr: a.DefaultAddr, IPv4: a.IPv4, IPv6: a.IPv6,
				Unreachable: a.Unreachable, LastError: a.LastError, LastErrorTime: a.LastErrorTime,
			}
		}
	}
	if s.Refused != nil {
		e.Refused = make([]Refusal, len(s.Refused))
		for i, r := range s.Refused {
			e.Refused[i] = Refusal{Cluster: r.Cluster, ClusterName: r.ClusterName, Kind: string(r.Kind), Claim: r.Claim, Holder: r.Holder, Reason: r.Reason}
		}
	}
	return StatusJSON{State: st.State, Error: st.Error, Engine: e, Packets: st.Packets, Process: st.Process}
}

// diagnosisJSON copies d into the bridge's types. Checks is never null.
func diagnosisJSON(d diag.Diagnosis) DiagnosisJSON {
	out := DiagnosisJSON{Checks: make([]Check, len(d.Checks))}
	for i, c := range d.Checks {
		out.Checks[i] = Check{Name: c.Name, OK: c.OK, Detail: c.Text()} // a person reads it
	}
	return out
}
