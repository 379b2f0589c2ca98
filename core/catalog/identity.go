package catalog

// Login is one logged-in cluster as the catalog follows it: the profile's
// identity and the source of its offer.
type Login struct {
	// ID is the profile's proxy address (host:port): the identity of the
	// root cluster and of every leaf reached through it.
	ID     string
	Source Source
}

// Identify stamps an offer of the login id (the root first, then its
// leaves) with who its clusters are on this laptop, whatever names they
// report: the root's ID is id, a leaf's "<id>/<leaf name>", and both are
// reached via id. It returns a copy.
func Identify(id string, offer []Cluster) []Cluster {
	out := make([]Cluster, len(offer))
	for i, c := range offer {
		c.ID, c.Via = id, id
		if i > 0 {
			c.ID = id + "/" + c.Name
		}
		out[i] = c
	}
	return out
}
