package proxy

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/appcache"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// leafInterval is how often a watch asks the leaves connected here for
// the user's catalogs there: a leaf cannot tell its root of a change. The
// cluster's own catalog needs no asking: the cache follows the store.
const leafInterval = time.Second

// watch serves WatchCatalog: the caller's view of the catalog now and
// after every change, until the caller goes away or the proxy stops. A
// caller that asks for deltas gets a paged full set (or the changes since
// its resume revision), then only what changes (appcache.Feed); another
// gets the whole catalog at every change, as before.
//
// The watch lives as long as its user: it is tracked with the tunnels
// (sessions.go), so that 'users rm' (or a user made again under the same
// name) ends it, and it sends nothing after that. A change of the user's
// roles does not end it: the user's record is read again when it changes,
// and what the new roles no longer reach is removed.
func (c *catalog) watch(req *api.WatchCatalogRequest, s api.Cluster_WatchCatalogServer) error {
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
	send := func(u *api.CatalogUpdate) error {
		sending.Lock()
		defer sending.Unlock()
		if cause := context.Cause(ctx); ctx.Err() != nil {
			return c.watchEnded(id, cause)
		}
		return s.Send(u)
	}
	ended := func(err error) error {
		if cause := context.Cause(ctx); ctx.Err() != nil {
			return c.watchEnded(id, cause)
		}
		if c.life.ctx.Err() != nil {
			return nil // the proxy stops
		}
		return err
	}
	if err := c.cache.Ready(ctx); err != nil {
		return ended(status.Errorf(codes.Unavailable, "%s: catalog not loaded: %v", c.cluster, err))
	}
	feed := c.cache.Subscribe(id.User)
	defer feed.Close()
	if id, err = c.userOf(ctx, id); err != nil {
		return ended(err)
	}
	leaves := c.followLeaves(ctx, id)
	defer leaves.stop()

	if !req.GetDeltas() {
		return ended(c.watchWhole(ctx, id, feed, leaves, send))
	}
	var rev int64
	settled := false // the leaves answered the first question
	healthChanged := store.HealthChanged(c.store)
	health := storeHealth(c.store)
	sendDelta := func(u *api.CatalogUpdate) error {
		u.LeavesPending = !settled
		u.StoreUnavailable = health
		return send(u)
	}
	sendAll := func(ups []*api.CatalogUpdate) error {
		for _, u := range ups {
			if err := sendDelta(u); err != nil {
				return err
			}
			rev = u.GetRevision()
		}
		return nil
	}
	if err := sendAll(feed.Start(id.Roles, req.GetResumeRevision())); err != nil {
		return ended(err)
	}
	var lastLeaves []*api.LeafCatalog
	for {
		select {
		case <-ctx.Done():
			return c.watchEnded(id, context.Cause(ctx))
		case <-c.life.ctx.Done():
			return nil
		case <-feed.Changed():
			if feed.UserChanged() {
				if id, err = c.rolesChanged(ctx, id, leaves); err != nil {
					return ended(err)
				}
			}
			if err := sendAll(feed.Next(id.Roles)); err != nil {
				return ended(err)
			}
		case e := <-leaves.out:
			first := e.settled && !settled
			settled = settled || e.settled
			if !first && leafCatalogsEqual(e.cs, lastLeaves) {
				continue
			}
			if err := sendDelta(&api.CatalogUpdate{Revision: rev, LeavesSet: true, Leaves: e.cs}); err != nil {
				return ended(err)
			}
			lastLeaves = e.cs
		case <-healthChanged:
			// The store went away or came back: an update of its own says
			// so (the catalog, if it changed meanwhile, follows from the
			// cache as usual).
			healthChanged, health = store.HealthChanged(c.store), storeHealth(c.store)
			if err := sendDelta(&api.CatalogUpdate{Revision: rev}); err != nil {
				return ended(err)
			}
		}
	}
}

// watchWhole serves a watcher that takes no deltas: the whole catalog,
// leaves included, whenever it changes.
func (c *catalog) watchWhole(ctx context.Context, id auth.Identity, feed *appcache.Feed, leaves *leafFollower, send func(*api.CatalogUpdate) error) error {
	var last *api.CatalogUpdate
	var ls []*api.LeafCatalog
	settled := false
	for {
		healthChanged := store.HealthChanged(c.store)
		cur := feed.Whole(id.Roles)
		cur.Leaves = ls
		cur.StoreUnavailable = storeHealth(c.store)
		// A client of whole updates takes the first as the catalog with
		// its leaves (as proxies always sent it): it waits for them.
		if settled && (last == nil || !proto.Equal(cur, last)) {
			if err := send(cur); err != nil {
				return err
			}
			last = cur
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.life.ctx.Done():
			return nil
		case <-feed.Changed():
			if feed.UserChanged() {
				var err error
				if id, err = c.rolesChanged(ctx, id, leaves); err != nil {
					return err
				}
			}
		case e := <-leaves.out:
			ls, settled = e.cs, settled || e.settled
		case <-healthChanged:
		}
	}
}

// rolesChanged is id with its user's roles after a change of the user's
// record. A user removed (or made again) is not the watch's to end: the
// sessions are (sessions.go), at once for 'users rm' here and at their
// next check otherwise, and count it; until then nothing more is sent. A
// store that does not answer keeps the roles as they were.
func (c *catalog) rolesChanged(ctx context.Context, id auth.Identity, leaves *leafFollower) (auth.Identity, error) {
	nid, err := c.userOf(ctx, id)
	switch status.Code(err) {
	case codes.OK:
		leaves.setRoles(nid.Roles)
		return nid, nil
	case codes.PermissionDenied:
		select {
		case <-ctx.Done():
			return id, ctx.Err()
		case <-c.life.ctx.Done():
			return id, c.life.ctx.Err()
		}
	default:
		return id, nil
	}
}

// userOf is id with its user's roles as stored now; refused if the user
// is gone or was made again.
func (c *catalog) userOf(ctx context.Context, id auth.Identity) (auth.Identity, error) {
	u, err := c.auth.GetUser(ctx, id.User)
	switch {
	case errors.Is(err, auth.ErrUnknownUser):
		return id, status.Errorf(codes.PermissionDenied, "%s: user %q was removed", c.cluster, id.User)
	case err != nil:
		return id, status.Errorf(codes.Unavailable, "%s: load user %q: %v", c.cluster, id.User, err)
	case !id.IssuedFor(u):
		return id, status.Errorf(codes.PermissionDenied, "%s: %v: user %q was removed and created again since; run 'vnet login' again", c.cluster, auth.ErrRevoked, id.User)
	}
	id.Roles = u.Roles
	return id, nil
}

// leafFollower is a watcher's leaf catalogs, sent on out whenever they
// may have changed.
type leafFollower struct {
	out    chan leafEmit // unbuffered: the watch takes each
	cancel context.CancelFunc
	done   chan struct{} // closed when the rounds ended

	mu    sync.Mutex
	roles []string // guarded by mu; the user's, for the next round
}

func (lf *leafFollower) setRoles(roles []string) {
	lf.mu.Lock()
	lf.roles = slices.Clone(roles)
	lf.mu.Unlock()
}

// stop ends the rounds and waits for them (a describe in flight ends
// with them).
func (lf *leafFollower) stop() {
	lf.cancel()
	<-lf.done
}

// followLeaves follows id's leaf catalogs (leaves.follow), until ctx ends
// or stop.
func (c *catalog) followLeaves(ctx context.Context, id auth.Identity) *leafFollower {
	ctx, cancel := context.WithCancel(ctx)
	lf := &leafFollower{out: make(chan leafEmit), cancel: cancel, done: make(chan struct{}), roles: slices.Clone(id.Roles)}
	roles := func() []string {
		lf.mu.Lock()
		defer lf.mu.Unlock()
		return lf.roles
	}
	go func() {
		defer close(lf.done)
		c.leaves.follow(ctx, id, roles, func(ls []*api.LeafCatalog, settled bool) {
			select {
			case lf.out <- leafEmit{ls, settled}:
			case <-ctx.Done():
			}
		})
	}()
	return lf
}

// leafEmit is one emit of leaves.follow.
type leafEmit struct {
	cs      []*api.LeafCatalog
	settled bool
}

func leafCatalogsEqual(a, b []*api.LeafCatalog) bool {
	return slices.EqualFunc(a, b, func(x, y *api.LeafCatalog) bool { return proto.Equal(x, y) })
}

// watchEnded is what a watch returns once its context ended: nil when
// the caller went away, the reason when it was cut.
func (c *catalog) watchEnded(id auth.Identity, cause error) error {
	if cause == nil || errors.Is(cause, context.Canceled) {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "%s: catalog watch of %q ended: %v", c.cluster, id.User, cause)
}
