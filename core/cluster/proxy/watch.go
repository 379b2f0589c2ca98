package proxy

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vnetproject/vnet/core/api"
)

// watchInterval is how often a catalog watch looks for changes. Looking is
// two reads of the store through the same handlers as GetVNetConfig and
// ListApps (so a watcher sees exactly what those would show the caller,
// filtered by its roles), and works the same over every store backend and
// for apps whose agents come and go.
const watchInterval = 500 * time.Millisecond

// WatchCatalog sends the caller's view of the catalog now and after every
// change, until the caller goes away or the proxy stops.
func (c *clusterServer) WatchCatalog(_ *api.WatchCatalogRequest, s api.Cluster_WatchCatalogServer) error {
	ctx := s.Context()
	var last *api.CatalogUpdate
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		cfg, err := c.GetVNetConfig(ctx, &api.GetVNetConfigRequest{})
		if err != nil {
			return err
		}
		apps, err := c.ListApps(ctx, &api.ListAppsRequest{})
		if err != nil {
			return err
		}
		cur := &api.CatalogUpdate{Config: cfg, Apps: apps}
		if id, err := identityFrom(ctx); err == nil {
			cur.Leaves = c.s.leafCatalogs(ctx, id) // leaves.go
		}
		if last == nil || !proto.Equal(cur, last) {
			if err := s.Send(cur); err != nil {
				return err
			}
			last = cur
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.s.ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
