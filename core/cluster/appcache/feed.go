package appcache

import (
	"slices"
	"strings"
	"sync"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// PageApps bounds the apps in one update, and PageRemoved the names of
// removed apps, so that no message grows with the catalog (gRPC refuses
// messages over 4 MiB by default).
const (
	PageApps    = 1000
	PageRemoved = 10000
)

// maxPending bounds the changed apps a feed holds for a watcher that has
// not caught up; past it the watcher gets a full set instead.
const maxPending = 1 << 16

// Feed is one catalog watcher's share of the cache: the changes since it
// last looked, turned into deltas for its user's roles. Start, then Next
// after every Changed; Close when done. Start and Next are called from
// one goroutine.
type Feed struct {
	c    *Cache
	user string
	wake chan struct{} // capacity 1: something changed

	// Guarded by c.mu (written under its write lock, read under its read
	// lock) and mu; lock order c.mu, then mu.
	mu      sync.Mutex
	pending map[string]appChange // by app name
	config  bool                 // vnet_config changed
	roles   bool                 // some role changed
	userChg bool                 // the user's record changed: its roles may have
	resync  bool                 // too much pending: send a full set

	// The watcher's own: the roles its last update was filtered by.
	roleNames []string
	granted   []*resource.Role
}

// appChange is what happened to an app since the watcher last looked:
// how it was then (old) and is now (new); nil for absent.
type appChange struct{ old, new *entry }

// Subscribe returns a feed of the changes from now on, for a watcher of
// user.
func (c *Cache) Subscribe(user string) *Feed {
	f := &Feed{c: c, user: user, wake: make(chan struct{}, 1), pending: map[string]appChange{}}
	c.mu.Lock()
	c.feeds[f] = true
	c.mu.Unlock()
	return f
}

// Close stops the feed.
func (f *Feed) Close() {
	f.c.mu.Lock()
	delete(f.c.feeds, f)
	f.c.mu.Unlock()
}

// Changed receives a value when there may be something to send.
func (f *Feed) Changed() <-chan struct{} { return f.wake }

// add takes changes from the cache. Called with c.mu held.
func (f *Feed) add(changes []change) {
	f.mu.Lock()
	for _, ch := range changes {
		switch ch.kind {
		case resource.KindApp:
			if f.resync {
				continue
			}
			pc, ok := f.pending[ch.name]
			if !ok {
				pc.old = ch.old
			}
			pc.new = ch.new
			f.pending[ch.name] = pc
			if len(f.pending) > maxPending {
				f.pending, f.resync = map[string]appChange{}, true
			}
		case resource.KindRole:
			f.roles = true
		case resource.KindVNetConfig:
			f.config = true
		case kindUser:
			if ch.name == f.user {
				f.userChg = true
			}
		}
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// UserChanged reports whether the user's record changed since the last
// update: the caller reads its roles again before Next.
func (f *Feed) UserChanged() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.userChg
}

// Start is the watcher's first updates, for a user with roleNames: the
// changes since resume when the cache still has them all and neither the
// user nor a role changed since, otherwise a full set (resync).
func (f *Feed) Start(roleNames []string, resume int64) []*api.CatalogUpdate {
	c := f.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	f.restartLocked(roleNames)
	if resume > 0 && resume >= c.since && resume <= c.rev {
		if ups, ok := f.resumeLocked(resume); ok {
			return ups
		}
	}
	return f.fullLocked()
}

// take returns what changed since the last take, and forgets it.
func (f *Feed) take() (pending map[string]appChange, config, roles, user, resync bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pending, config, roles, user, resync = f.pending, f.config, f.roles, f.userChg, f.resync
	f.pending, f.config, f.roles, f.userChg, f.resync = map[string]appChange{}, false, false, false, false
	return pending, config, roles, user, resync
}

// restartLocked forgets what changed (the caller sends everything) and
// filters by roleNames from now on. Called with c.mu held.
func (f *Feed) restartLocked(roleNames []string) {
	f.take()
	f.roleNames, f.granted = roleNames, f.c.rolesOfLocked(roleNames)
}

// resumeLocked replays the history after rev, if it can be: the user's
// roles filter it as they filtered what the watcher had.
func (f *Feed) resumeLocked(rev int64) ([]*api.CatalogUpdate, bool) {
	c := f.c
	pending := map[string]appChange{}
	config := false
	for _, ch := range c.history {
		if ch.rev <= rev {
			continue
		}
		switch ch.kind {
		case resource.KindRole:
			return nil, false
		case kindUser:
			if ch.name == f.user {
				return nil, false
			}
		case resource.KindVNetConfig:
			config = true
		case resource.KindApp:
			pc, ok := pending[ch.name]
			if !ok {
				pc.old = ch.old
			}
			pc.new = ch.new
			pending[ch.name] = pc
		}
	}
	ups := f.deltasLocked(pending, config, f.granted, false)
	if len(ups) == 0 {
		// Nothing changed: still say where the watcher is.
		ups = []*api.CatalogUpdate{{Revision: c.rev}}
	}
	return ups, true
}

// Next is what to send for the changes since the last updates: nil when
// nothing the user sees changed. roleNames are the user's roles now (read
// again by the caller when UserChanged).
func (f *Feed) Next(roleNames []string) []*api.CatalogUpdate {
	c := f.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	pending, config, roles, user, resync := f.take()
	if resync {
		f.restartLocked(roleNames)
		return f.fullLocked()
	}
	granted := f.granted
	if roles || user || !slices.Equal(roleNames, f.roleNames) {
		granted = c.rolesOfLocked(roleNames)
	}
	ups := f.deltasLocked(pending, config, granted, !slices.Equal(granted, f.granted))
	f.roleNames, f.granted = roleNames, granted
	return ups
}

// deltasLocked turns pending into updates for a watcher whose roles were
// f.granted and are granted now; refilter: the roles differ, so every
// app is looked at again (that user's only).
func (f *Feed) deltasLocked(pending map[string]appChange, config bool, granted []*resource.Role, refilter bool) []*api.CatalogUpdate {
	c := f.c
	var up []*api.App
	var removed []string
	for name, pc := range pending {
		switch before, now := visible(f.granted, pc.old), visible(granted, pc.new); {
		case now:
			up = append(up, pc.new.api)
		case before:
			removed = append(removed, name)
		}
	}
	if refilter {
		for name, e := range c.apps {
			if _, ok := pending[name]; ok {
				continue
			}
			switch before, now := visible(f.granted, e), visible(granted, e); {
			case now && !before:
				up = append(up, e.api)
			case before && !now:
				removed = append(removed, name)
			}
		}
	}
	if len(up) == 0 && len(removed) == 0 && !config {
		return nil
	}
	slices.SortFunc(up, func(a, b *api.App) int { return strings.Compare(a.GetName(), b.GetName()) })
	slices.Sort(removed)
	var out []*api.CatalogUpdate
	for first := true; first || len(up) > 0 || len(removed) > 0; first = false {
		u := &api.CatalogUpdate{Revision: c.rev, Apps: f.listHeader()}
		if first && config {
			u.Config = c.config
		}
		n := min(len(up), PageApps)
		u.Apps.Apps, up = up[:n], up[n:]
		n = min(len(removed), PageRemoved)
		u.Removed, removed = removed[:n], removed[n:]
		out = append(out, u)
	}
	return out
}

// fullLocked is a full set for the watcher's roles, in pages.
func (f *Feed) fullLocked() []*api.CatalogUpdate {
	c := f.c
	apps := f.visibleLocked()
	var out []*api.CatalogUpdate
	for first := true; first || len(apps) > 0; first = false {
		u := &api.CatalogUpdate{Revision: c.rev, Resync: first, Apps: f.listHeader()}
		if first {
			u.Config = c.config
		}
		n := min(len(apps), PageApps)
		u.Apps.Apps, apps = apps[:n], apps[n:]
		u.More = len(apps) > 0
		out = append(out, u)
	}
	return out
}

// Whole is the catalog as a watcher that takes no deltas sees it: one
// update with every app its roles reach, by name.
func (f *Feed) Whole(roleNames []string) *api.CatalogUpdate {
	c := f.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	f.restartLocked(roleNames)
	u := &api.CatalogUpdate{Config: c.config, Apps: f.listHeader()}
	u.Apps.Apps = c.visibleLocked(f.granted, true)
	return u
}

// visibleLocked is every app f.granted reaches, in no order: a full set
// is applied whole, and sorting a hundred thousand names per watcher
// costs more than the rest.
func (f *Feed) visibleLocked() []*api.App { return f.c.visibleLocked(f.granted, false) }

// visibleLocked is every app granted reaches, by name if sorted. Called
// with mu held.
func (c *Cache) visibleLocked(granted []*resource.Role, sorted bool) []*api.App {
	var apps []*api.App
	for _, e := range c.apps {
		if visible(granted, e) {
			apps = append(apps, e.api)
		}
	}
	if sorted {
		slices.SortFunc(apps, func(a, b *api.App) int { return strings.Compare(a.GetName(), b.GetName()) })
	}
	return apps
}

// listHeader is the ListAppsResponse every update carries: who the
// cluster is; the apps are added by the caller.
func (f *Feed) listHeader() *api.ListAppsResponse {
	return &api.ListAppsResponse{ClusterName: f.c.clusterName, ProxyPublicAddr: f.c.publicAddr}
}

// rolesOfLocked is the role resources of names. The built-in admin role
// and names without a role resource grant nothing.
func (c *Cache) rolesOfLocked(names []string) []*resource.Role {
	var out []*resource.Role
	for _, n := range names {
		if n == resource.RoleAdmin {
			continue
		}
		if r, ok := c.roles[n]; ok {
			out = append(out, r)
		}
	}
	return out
}

func visible(granted []*resource.Role, e *entry) bool {
	return e != nil && resource.AllowsApp(granted, e.app.Metadata.Labels)
}
