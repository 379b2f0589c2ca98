package proxy

import (
	"context"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
)

// catalog is the users' part of the proxy: what a user sees of the
// cluster (the vnet_config, the apps their roles reach, the catalogs of
// the leaves connected here) for ListApps, GetVNetConfig, a leaf's root
// (RemoteCatalog) and the watch that streams it (watch.go). It reads
// everything from the store at every call; a cache fed by the store's
// events would replace the reads here and nothing else.
type catalog struct {
	cluster, publicAddr string
	auth                *auth.Service // users' stored records (a watch follows them)
	state               *state.State  // vnet_config and apps
	rbac                *rbac
	leaves              leafCatalogs // never nil
	sessions            *sessionSet  // a watch is tracked as its user's stream
	life                *life
}

// leafCatalogs is what the catalog asks of the leaves: each connected
// leaf's catalog as id may see it (leaves.go).
type leafCatalogs interface {
	catalogs(ctx context.Context, id auth.Identity) []*api.LeafCatalog
}

// vnetConfig is the cluster's vnet_config as the catalog API shows it.
func (c *catalog) vnetConfig(ctx context.Context) (*api.VNetConfig, error) {
	cfg, err := c.state.VNetConfig(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.VNetConfig{Ipv4CidrRange: cfg.Spec.IPv4CIDRRange}
	for _, z := range cfg.Spec.CustomDNSZones {
		out.CustomDnsZones = append(out.CustomDnsZones, z.Suffix)
	}
	return out, nil
}

// listApps is the apps id may reach: an app they cannot dial is not
// theirs to see (nor to get a name and address for from VNet).
func (c *catalog) listApps(ctx context.Context, id auth.Identity) (*api.ListAppsResponse, error) {
	all, err := c.state.Apps(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	apps, err := c.visibleApps(ctx, id, all)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.ListAppsResponse{ClusterName: c.cluster, ProxyPublicAddr: c.publicAddr}
	for _, a := range apps {
		out.Apps = append(out.Apps, appToAPI(a))
	}
	return out, nil
}

// visibleApps returns the apps of all that id may reach: what ListApps and
// WatchCatalog show.
func (c *catalog) visibleApps(ctx context.Context, id auth.Identity, all []*resource.App) ([]*resource.App, error) {
	roles, err := c.rbac.rolesOf(ctx, id.Roles)
	if err != nil {
		return nil, err
	}
	var out []*resource.App
	for _, a := range all {
		if resource.AllowsApp(roles, a.Metadata.Labels) {
			out = append(out, a)
		}
	}
	return out, nil
}

// own is this cluster's catalog as id sees it, its leaves left out: the
// vnet_config and the apps id may reach. A watch sends it with the
// leaves'; a leaf answers its root's users with it (RemoteCatalog).
func (c *catalog) own(ctx context.Context, id auth.Identity) (*api.LeafCatalog, error) {
	cfg, err := c.vnetConfig(ctx)
	if err != nil {
		return nil, err
	}
	apps, err := c.listApps(ctx, id)
	if err != nil {
		return nil, err
	}
	return &api.LeafCatalog{Config: cfg, Apps: apps}, nil
}
