package proxy

import (
	"context"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/appcache"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// catalog is the users' part of the proxy: what a user sees of the
// cluster (the vnet_config, the apps their roles reach, the catalogs of
// the leaves connected here) for ListApps, GetVNetConfig, a leaf's root
// (RemoteCatalog) and the watch that streams it (watch.go). It reads
// the unary calls from the store (fresh, whichever proxy wrote), and the
// watches from the cache, which follows the store's changes (package
// appcache) and stands in for the store when it does not answer.
type catalog struct {
	cluster, publicAddr string
	auth                *auth.Service // users' stored records (a watch follows them)
	state               *state.State  // vnet_config and apps, for the unary calls
	rbac                *rbac
	cache               *appcache.Cache // vnet_config, apps and roles, for watches; never nil
	store               store.Store     // its health (storehealth.go); nil in some tests
	leaves              leafCatalogs    // never nil
	sessions            *sessionSet     // a watch is tracked as its user's stream
	life                *life
}

// leafCatalogs is what the catalog asks of the leaves: each connected
// leaf's catalog as id may see it, followed until ctx ends (leaves.go).
type leafCatalogs interface {
	follow(ctx context.Context, id auth.Identity, roles func() []string, emit func(cs []*api.LeafCatalog, settled bool))
}

// vnetConfig is the cluster's vnet_config as GetVNetConfig shows it:
// read from the store, so that a write through any proxy shows at once,
// or from the cache when the store does not answer.
func (c *catalog) vnetConfig(ctx context.Context) (*api.VNetConfig, error) {
	cfg, err := c.state.VNetConfig(ctx)
	if err != nil {
		if c.cache.Ready(ctx) != nil || ctx.Err() != nil {
			return nil, grpcError(err)
		}
		return c.cache.Config(), nil
	}
	return appcache.VNetConfigToAPI(cfg), nil
}

// listApps is the apps id may reach, as ListApps shows them: an app they
// cannot dial is not theirs to see (nor to get a name and address for
// from VNet). Read from the store as vnetConfig is, or from the cache.
func (c *catalog) listApps(ctx context.Context, id auth.Identity) (*api.ListAppsResponse, error) {
	out, err := c.listStored(ctx, id)
	if err != nil {
		if c.cache.Ready(ctx) != nil || ctx.Err() != nil {
			return nil, grpcError(err)
		}
		_, out = c.cache.View(id.Roles)
	}
	out.StoreUnavailable = storeHealth(c.store)
	return out, nil
}

func (c *catalog) listStored(ctx context.Context, id auth.Identity) (*api.ListAppsResponse, error) {
	all, err := c.state.Apps(ctx)
	if err != nil {
		return nil, err
	}
	roles, err := c.rbac.rolesOf(ctx, id.Roles)
	if err != nil {
		return nil, err
	}
	out := &api.ListAppsResponse{ClusterName: c.cluster, ProxyPublicAddr: c.publicAddr}
	for _, a := range all {
		if resource.AllowsApp(roles, a.Metadata.Labels) {
			out.Apps = append(out.Apps, appcache.AppToAPI(a))
		}
	}
	return out, nil
}

// own is this cluster's catalog as id sees it, its leaves left out: the
// vnet_config and the apps id may reach, from the cache. A leaf answers
// its root's watching users with it (RemoteCatalog), at every round.
func (c *catalog) own(ctx context.Context, id auth.Identity) (*api.LeafCatalog, error) {
	if err := c.cache.Ready(ctx); err != nil {
		return nil, grpcError(err)
	}
	cfg, apps := c.cache.View(id.Roles)
	return &api.LeafCatalog{Config: cfg, Apps: apps}, nil
}
