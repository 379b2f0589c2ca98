package proxy

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
)

// watchInterval is how often a catalog watch looks for changes. Looking is
// two reads of the store through the same code as GetVNetConfig and
// ListApps (catalog.go) (so a watcher sees exactly what those would show the caller,
// filtered by its roles), and works the same over every store backend and
// for apps whose agents come and go.
const watchInterval = 500 * time.Millisecond

// watch serves WatchCatalog: it sends the caller's view of the catalog now and after every
// change, until the caller goes away or the proxy stops.
//
// The watch lives as long as its user: it is tracked with the tunnels
// (sessions.go), so that 'users rm' (or a user made again under the same
// name) ends it, and it sends nothing after that. A change of the user's
// roles does not end it: every pass reads the user's stored roles, so an
// app the user may no longer reach drops out of the next update.
func (c *catalog) watch(s api.Cluster_WatchCatalogServer) error {
	id, err := identityFrom(s.Context())
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	var sending sync.Mutex // held across a send: a cut waits for it
	ctx, untrack := c.sessions.track(s.Context(), &openSession{
		user: id.User, generation: id.Generation,
		// Taking the lock waits out a send in flight; every later send
		// sees the cut (ctx) under the lock and is not made.
		//lint:ignore SA2001 the empty critical section is the wait
		quiet: func() { sending.Lock(); sending.Unlock() },
	})
	defer untrack()
	var last *api.CatalogUpdate
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		cur, err := c.catalogOf(ctx, id)
		if err != nil {
			if cause := context.Cause(ctx); ctx.Err() != nil && cause != context.Canceled {
				return c.watchEnded(id, cause)
			}
			return err
		}
		if last == nil || !proto.Equal(cur, last) {
			sending.Lock()
			if cause := context.Cause(ctx); ctx.Err() != nil {
				sending.Unlock()
				return c.watchEnded(id, cause)
			}
			err := s.Send(cur)
			sending.Unlock()
			if err != nil {
				return err
			}
			last = cur
		}
		select {
		case <-ctx.Done():
			return c.watchEnded(id, context.Cause(ctx))
		case <-c.life.ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// catalogOf is one pass of a watch: id's view of the catalog, by the
// user's stored record (its roles now; refused if it is gone or was made
// again).
func (c *catalog) catalogOf(ctx context.Context, id auth.Identity) (*api.CatalogUpdate, error) {
	u, err := c.auth.GetUser(ctx, id.User)
	switch {
	case errors.Is(err, auth.ErrUnknownUser):
		return nil, status.Errorf(codes.PermissionDenied, "%s: user %q was removed", c.cluster, id.User)
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "%s: load user %q: %v", c.cluster, id.User, err)
	case !id.IssuedFor(u):
		return nil, status.Errorf(codes.PermissionDenied, "%s: %v: user %q was removed and created again since; run 'vnet login' again", c.cluster, auth.ErrRevoked, id.User)
	}
	id.Roles = u.Roles
	ctx = context.WithValue(ctx, identityKey{}, id)
	own, err := c.own(ctx, id)
	if err != nil {
		return nil, err
	}
	return &api.CatalogUpdate{Config: own.Config, Apps: own.Apps, Leaves: c.leaves.catalogs(ctx, id)}, nil // leaves.go
}

// watchEnded is what a watch returns once its context ended: nil when
// the caller went away, the reason when it was cut.
func (c *catalog) watchEnded(id auth.Identity, cause error) error {
	if cause == nil || errors.Is(cause, context.Canceled) {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "%s: catalog watch of %q ended: %v", c.cluster, id.User, cause)
}
