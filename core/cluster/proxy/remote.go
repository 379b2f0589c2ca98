package proxy

import (
	"context"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
)

// The leaf's side of leaf clusters: what the trust package's connection
// to a root asks of this proxy on behalf of a root user. id is that user
// as this cluster sees them: a name that says where they come from
// (alice@root.test) and the roles of this cluster their root roles map
// to. Everything else is as for this cluster's own users: the same RBAC,
// the same routing to local apps and agents, the same audit log.

// RemoteCatalog returns the vnet_config of this cluster and the apps id
// may reach, as WatchCatalog would show them.
func (s *Server) RemoteCatalog(ctx context.Context, id auth.Identity) (*api.LeafCatalog, error) {
	return s.catalog.own(ctx, id) // catalog.go
}

// ServeRemoteDial authorizes, dials, audits and relays a root user's
// connection to an app of this cluster, answering through reply. It
// returns when the connection has ended.
func (s *Server) ServeRemoteDial(ctx context.Context, id auth.Identity, req *api.DialRequest, reply DialReply) error {
	return s.tunnels.serve(ctx, id, true, req, reply) // tunnel.go
}
