package resource

import "time"

// KindRemoteCluster is a leaf cluster as its root sees it.
const KindRemoteCluster = "remote_cluster"

func init() {
	kinds[KindRemoteCluster] = func() Resource { return new(RemoteCluster) }
}

// RemoteCluster is a leaf cluster that joined this (root) cluster. It is
// created by the leaf's join, not by hand; removing it ends the trust.
//
//	kind: remote_cluster
//	version: v1
//	metadata:
//	  name: leaf.test
//	status:              # read-only
//	  connected: true
//	  joined: 2025-01-02T03:04:05Z
//	  proxy_public_addr: proxy.leaf.test:3080
type RemoteCluster struct {
	Header `yaml:",inline" json:",inline"`
	Status *RemoteClusterStatus `yaml:"status,omitempty" json:"status,omitempty"`
}

// RemoteClusterStatus is what the root knows of a leaf.
type RemoteClusterStatus struct {
	Connected       bool      `yaml:"connected" json:"connected"`
	Joined          time.Time `yaml:"joined" json:"joined"`
	ProxyPublicAddr string    `yaml:"proxy_public_addr,omitempty" json:"proxy_public_addr,omitempty"`
}

// NewRemoteCluster returns the resource for the leaf called name.
func NewRemoteCluster(name string, status *RemoteClusterStatus) *RemoteCluster {
	return &RemoteCluster{
		Header: Header{KindField: KindRemoteCluster, Version: V1, Metadata: Metadata{Name: name}},
		Status: status,
	}
}

// Kind implements Resource.
func (r *RemoteCluster) Kind() string { return KindRemoteCluster }

// CheckAndSetDefaults implements Resource.
func (r *RemoteCluster) CheckAndSetDefaults() error { return r.Header.check(KindRemoteCluster) }
