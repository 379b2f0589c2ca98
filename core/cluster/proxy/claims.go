package proxy

import (
	"context"
	"time"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

// catchUpTimeout bounds the wait for the catalog cache after a claim is
// written: the write has succeeded by then, so a cache that cannot follow
// the store (it is down) only logs.
const catchUpTimeout = 5 * time.Second

// catchUp waits, holding the registry's lock, until the catalog cache has
// the app just written: the next claim through this proxy is checked
// against it (two 'vnet ctl create' of one address, one after the other,
// cannot both pass).
func (c *admin) catchUp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), catchUpTimeout)
	defer cancel()
	if err := c.cache.CatchUp(ctx); err != nil {
		c.log.Warn("app written; "+err.Error(), "err", err)
	}
}

// deleteApp removes an app; the next claim through this proxy sees its
// address free.
func (c *admin) deleteApp(ctx context.Context, name string) error {
	c.agents.registry.mu.Lock()
	defer c.agents.registry.mu.Unlock()
	if err := c.state.Delete(ctx, resource.KindApp, name); err != nil {
		return err
	}
	c.catchUp(ctx)
	return nil
}
