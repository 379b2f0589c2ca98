package vnet

import (
	"context"
	"strings"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/catalog"
)

// firstOffer waits until a cluster has answered. VNet starts without one
// (a laptop offline, a proxy down): the catalog retries each login with
// back-off meanwhile, VNet serves nothing, and its status and log say
// so (issue 14). It returns only with a snapshot that has a cluster, or
// ctx's error.
func (e *Engine) firstOffer(ctx context.Context) (*catalog.Snapshot, error) {
	snap, err := e.cfg.Catalog.Ready(ctx)
	said := ""
	for err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		e.reportClusters()
		why := "no cluster answered yet (" + strings.ReplaceAll(api.ErrorLine(err), "no cluster answered: ", "") + "): VNet serves nothing until one does; retrying with back-off"
		if why != said {
			e.log.Warn(why)
			said = why
		}
		e.mu.Lock()
		e.problems = []string{why}
		e.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-e.cfg.Catalog.Changed():
		}
		if snap = e.cfg.Catalog.Current(); len(snap.Clusters) > 0 {
			err = nil
		}
	}
	return snap, nil
}
