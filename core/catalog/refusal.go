package catalog

import "fmt"

// Kind is what sort of claim a Refusal refuses.
type Kind string

// The kinds of refused claims.
const (
	KindZone    Kind = "zone"    // a custom DNS zone or a proxy's domain
	KindRange   Kind = "range"   // an ipv4_cidr_range
	KindName    Kind = "name"    // an app's address
	KindCluster Kind = "cluster" // a leaf reported twice by its root
	KindRoot    Kind = "root"    // a leaf's claim its root refused (Claim is the root's line)
)

// Refusal is one claim of a cluster that the laptop (or, for KindRoot, the
// cluster's root) refused. Everything else keeps working.
type Refusal struct {
	Cluster     string `json:"cluster"`      // ID of the claiming cluster
	ClusterName string `json:"cluster_name"` // the name it reports
	Kind        Kind   `json:"kind"`
	Claim       string `json:"claim"` // the zone, range or name refused
	// Holder is the ID of the cluster that holds the claim, when the claim
	// is refused because another cluster was first.
	Holder string `json:"holder,omitempty"`
	Reason string `json:"reason"` // why, and what to do; one line
}

// String is the refusal in one line.
func (r Refusal) String() string {
	if r.Kind == KindRoot {
		return fmt.Sprintf("cluster %s (%s): its root refused: %s", r.ClusterName, r.Cluster, r.Claim)
	}
	return fmt.Sprintf("%s %s of cluster %s (%s) refused: %s", r.Kind, r.Claim, r.ClusterName, r.Cluster, r.Reason)
}

func refusal(c *Cluster, kind Kind, claim, holder, reason string) Refusal {
	return Refusal{Cluster: c.ID, ClusterName: c.Name, Kind: kind, Claim: claim, Holder: holder, Reason: reason}
}
