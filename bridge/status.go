package main

import (
	"net/netip"
	"time"

	"github.com/vnetproject/vnet/core/vnet"
)

// The JSON vnet_status writes. These are the bridge's own types, not the
// engine's marshalled as they are: a field the engine adds or renames
// reaches the Swift app only when it is added here, where the golden file
// (testdata/status.golden.json, golden_test.go) and scripts/check-swift.sh
// hold it to what the Swift code decodes.

// Status is what vnet_status writes.
type Status struct {
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
// Extension (TunnelSettings).
type NetworkSettings struct {
	TunAddr4 netip.Addr     `json:"tun_addr4"`
	TunAddr6 netip.Addr     `json:"tun_addr6,omitzero"`
	Routes   []netip.Prefix `json:"routes"`
	DNSAddrs []netip.Addr   `json:"dns_addrs"`
	DNSZones []string       `json:"dns_zones"`
	MTU      int            `json:"mtu"`
}

// ClusterStatus is one login's cluster and how following it goes.
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

// engineSnapshot is the instance's state and the engine's status, read
// together for vnet_status and the diagnosis.
func (in *instance) engineSnapshot() (State, string, vnet.Status) {
	in.mu.Lock()
	state, err := in.state, in.err
	in.mu.Unlock()
	return state, err, in.engine.Status()
}

// status reports what the instance is doing now.
func (in *instance) status() Status {
	state, err, eng := in.engineSnapshot()
	return Status{
		State:   state,
		Error:   err,
		Engine:  engineStatus(eng),
		Packets: in.queue.counts(),
		Process: processStats(),
	}
}

// engineStatus copies the engine's status into the bridge's types. Nil
// slices stay nil (JSON null), as the engine's own JSON has them.
func engineStatus(s vnet.Status) EngineStatus {
	out := EngineStatus{
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
		out.Clusters = make([]ClusterStatus, len(s.Clusters))
		for i, c := range s.Clusters {
			out.Clusters[i] = ClusterStatus{ID: c.ID, Name: c.Name, Leaves: c.Leaves, Connected: c.Connected, Updated: c.Updated, Error: c.Error}
		}
	}
	if s.Apps != nil {
		out.Apps = make([]AppStatus, len(s.Apps))
		for i, a := range s.Apps {
			out.Apps[i] = AppStatus{
				ClusterID: a.ClusterID, Cluster: a.Cluster, Name: a.Name,
				PublicAddr: a.PublicAddr, DefaultAddr: a.DefaultAddr, IPv4: a.IPv4, IPv6: a.IPv6,
				Unreachable: a.Unreachable, LastError: a.LastError, LastErrorTime: a.LastErrorTime,
			}
		}
	}
	if s.Refused != nil {
		out.Refused = make([]Refusal, len(s.Refused))
		for i, r := range s.Refused {
			out.Refused[i] = Refusal{Cluster: r.Cluster, ClusterName: r.ClusterName, Kind: string(r.Kind), Claim: r.Claim, Holder: r.Holder, Reason: r.Reason}
		}
	}
	return out
}
