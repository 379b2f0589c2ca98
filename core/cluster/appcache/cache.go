// Package appcache keeps one proxy's copy of what the catalog needs (apps,
// roles, vnet_config), fed by the store's changes and shared by every
// catalog watcher, and turns those changes into each watcher's deltas,
// filtered by its roles.
package appcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/backoff"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// The store keys the cache follows. Users are followed only to tell a
// watcher its user changed: their records are read through auth.
const (
	resourcesPrefix = "/resources/"
	usersPrefix     = "/auth/users/"
)

// historyLen bounds the changes kept for watchers that resume from a
// revision; a resume from before them gets a full set.
const historyLen = 8192

// retry spaces the attempts to reach the store again after an error;
// meanwhile the cache serves what it has.
var retry = backoff.Policy{Min: 100 * time.Millisecond, Max: 5 * time.Second}

// Cache is a proxy's copy of the catalog's resources. New, then Run; the
// watchers Subscribe.
type Cache struct {
	st          store.Store // never nil
	log         *slog.Logger
	clusterName string // for ListAppsResponse.cluster_name
	publicAddr  string // for ListAppsResponse.proxy_public_addr

	ready     chan struct{} // closed once the first listing is loaded
	readyOnce sync.Once

	mu      sync.RWMutex
	rev     int64                     // guarded by mu; of the last change applied
	apps    map[string]*entry         // guarded by mu; by app name
	roles   map[string]*resource.Role // guarded by mu; by role name
	config  *api.VNetConfig           // guarded by mu; never nil
	cfgRes  *resource.VNetConfig      // guarded by mu; config as stored; never nil
	history []change                  // guarded by mu; in revision order, at most 2*historyLen
	since   int64                     // guarded by mu; history holds every change after it
	feeds   map[*Feed]bool            // guarded by mu
	err     error                     // guarded by mu; why the store cannot be followed now, nil when it can
	loaded  bool                      // guarded by mu; the first listing is in
	byAddr  addrIndex                 // guarded by mu; apps by address (addrs.go)
	subsets []*Subset                 // guarded by mu; kept up to date (subset.go)
	// advanced is closed and replaced whenever rev moves (addrs.go);
	// guarded by mu, never nil.
	advanced chan struct{}
}

// entry is one app, as stored and as the API shows it (converted once,
// shared read-only by every watcher).
type entry struct {
	app *resource.App
	api *api.App
}

// change is one change of what the catalog shows.
type change struct {
	rev  int64
	kind string // resource.KindApp, KindRole, KindVNetConfig, or "user"
	name string
	old  *entry // apps only: before (nil: created)
	new  *entry // apps only: after (nil: removed)
}

// New returns a cache over st for the cluster clusterName whose proxy is
// at publicAddr; Run fills it.
func New(st store.Store, clusterName, publicAddr string, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.Default()
	}
	return &Cache{
		st: st, log: log, clusterName: clusterName, publicAddr: publicAddr, ready: make(chan struct{}),
		apps: map[string]*entry{}, roles: map[string]*resource.Role{}, feeds: map[*Feed]bool{},
		byAddr: addrIndex{}, advanced: make(chan struct{}),
		config: VNetConfigToAPI(resource.DefaultVNetConfig()), cfgRes: resource.DefaultVNetConfig(),
	}
}

// Ready waits for the first listing of the store.
func (c *Cache) Ready(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Err is why the cache cannot follow the store now (it serves what it
// has), or nil.
func (c *Cache) Err() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.err
}

// Run follows the store until ctx is done: a listing, then its changes; a
// listing again (applied as the differences) whenever the changes cannot
// be followed (compacted, the store unreachable).
func (c *Cache) Run(ctx context.Context) {
	retry.Loop(ctx, func(ctx context.Context) (bool, error) {
		rev, err := c.load(ctx)
		if err != nil {
			return false, err
		}
		c.setErr(nil)
		return true, c.follow(ctx, rev)
	}, func(_ time.Duration, err error) {
		if ctx.Err() == nil && !errors.Is(err, store.ErrCompacted) {
			c.setErr(err)
		}
	}, nil)
}

func (c *Cache) setErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil && c.err == nil {
		c.log.Warn("catalog cache: store unavailable, serving what it has", "err", err)
	}
	if err == nil && c.err != nil {
		c.log.Info("catalog cache: store reachable again")
	}
	c.err = err
}

// load lists the resources and applies them as the differences from what
// the cache holds (nothing, the first time). It returns the listing's
// revision.
func (c *Cache) load(ctx context.Context) (int64, error) {
	start := time.Now()
	items, rev, err := c.st.Snapshot(ctx, resourcesPrefix)
	if err != nil {
		return 0, fmt.Errorf("list resources: %w", err)
	}
	seen := map[string]bool{}
	var evs []store.Event
	for _, it := range items {
		seen[it.Key] = true
		evs = append(evs, store.Event{Revision: rev, Key: it.Key, Value: it.Value})
	}
	pre := parseAhead(evs)
	c.mu.Lock()
	for name := range c.apps {
		if k := resourcesPrefix + resource.KindApp + "/" + name; !seen[k] {
			evs = append(evs, store.Event{Revision: rev, Key: k, Deleted: true})
		}
	}
	for name := range c.roles {
		if k := resourcesPrefix + resource.KindRole + "/" + name; !seen[k] {
			evs = append(evs, store.Event{Revision: rev, Key: k, Deleted: true})
		}
	}
	if k := resourcesPrefix + resource.KindVNetConfig + "/" + resource.VNetConfigName; !seen[k] {
		evs = append(evs, store.Event{Revision: rev, Key: k, Deleted: true}) // back to the default
	}
	first := !c.loaded
	c.loaded = true
	// Users may have changed meanwhile too: every watcher reads its own
	// again.
	var users []change
	for f := range c.feeds {
		users = append(users, change{rev: rev, kind: kindUser, name: f.user})
	}
	c.applyLocked(evs, rev, true, pre)
	c.recordLocked(users...)
	c.notifyLocked(users)
	if first {
		// The first listing is the start, not a change to resume over.
		c.history, c.since = nil, rev
		// Watches wait for it: a VNet's first catalog after a start too.
		c.log.Info("catalog cache loaded", "apps", len(c.apps), "took", time.Since(start).Round(time.Millisecond))
	}
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.ready) })
	return rev, nil
}

// follow applies the store's changes after rev until the watch ends.
func (c *Cache) follow(ctx context.Context, rev int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One watch of every key, not one per prefix: changes then arrive in
	// revision order, so a revision handed to a watcher covers every
	// change before it. Keys the catalog does not need are skipped.
	for b := range c.st.Watch(ctx, "", rev) {
		if b.Err != nil {
			return b.Err
		}
		c.mu.Lock()
		c.applyLocked(b.Events, b.Events[len(b.Events)-1].Revision, false, nil)
		c.mu.Unlock()
	}
	return ctx.Err()
}

const kindUser = "user"

// catalogKinds are the resources the catalog shows or filters by; the
// others (trusted and remote clusters) are not parsed.
var catalogKinds = map[string]bool{resource.KindApp: true, resource.KindRole: true, resource.KindVNetConfig: true}

// applyLocked applies store events and tells the feeds. resync: the
// events are a listing's, to be compared with what is held; pre, if not
// nil, the first events' resources parsed ahead (parseAhead). Called
// with mu held.
func (c *Cache) applyLocked(evs []store.Event, rev int64, resync bool, pre []parsed) {
	var changes []change
	for i, ev := range evs {
		var p parsed
		if i < len(pre) {
			p = pre[i]
		}
		if ch, ok := c.applyOne(ev, resync, p); ok {
			changes = append(changes, ch)
		}
	}
	if rev > c.rev {
		c.rev = rev
		c.advanceLocked()
	}
	c.recordLocked(changes...)
	c.notifyLocked(changes)
}

// parsed is an event's resource parsed ahead of applyOne, if done.
type parsed struct {
	r    resource.Resource
	err  error
	done bool
}

// parseAhead parses the catalog's resources among evs (a listing) on
// every CPU, before the cache's lock is taken: 100,000 stored apps are
// about 3 s of YAML for one CPU, and every watch waits for the first
// listing.
func parseAhead(evs []store.Event) []parsed {
	out := make([]parsed, len(evs))
	workers := min(runtime.GOMAXPROCS(0), len(evs)/1000+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(evs); i += workers {
				if _, _, ok := catalogKey(evs[i].Key); ok && !evs[i].Deleted {
					out[i].r, out[i].err = resource.ParseStored(evs[i].Value)
					out[i].done = true
				}
			}
		})
	}
	wg.Wait()
	return out
}

// catalogKey is the kind and name of a stored resource the catalog
// needs (catalogKinds); ok is false for any other key.
func catalogKey(key string) (kind, name string, ok bool) {
	rest, ok := strings.CutPrefix(key, resourcesPrefix)
	if !ok {
		return "", "", false
	}
	kind, name, ok = strings.Cut(rest, "/")
	return kind, name, ok && catalogKinds[kind]
}

// applyOne applies one event, its resource parsed ahead in p if p.done;
// it reports the change it made, if any.
func (c *Cache) applyOne(ev store.Event, resync bool, p parsed) (change, bool) {
	if name, ok := strings.CutPrefix(ev.Key, usersPrefix); ok {
		return change{rev: ev.Revision, kind: kindUser, name: name}, true
	}
	kind, name, ok := catalogKey(ev.Key)
	if !ok {
		return change{}, false // a key the catalog does not need
	}
	var r resource.Resource
	if !ev.Deleted {
		err := p.err
		if r = p.r; !p.done {
			r, err = resource.ParseStored(ev.Value)
		}
		if err != nil {
			c.log.Warn("catalog cache: damaged resource left out", "key", ev.Key, "err", err)
			ev.Deleted = true
		}
	}
	ch := change{rev: ev.Revision, kind: kind, name: name}
	switch kind {
	case resource.KindApp:
		old := c.apps[name]
		var cur *entry
		if a, ok := r.(*resource.App); ok && !ev.Deleted {
			cur = &entry{app: a, api: AppToAPI(a)}
		}
		if old == nil && cur == nil {
			return change{}, false
		}
		if resync && old != nil && cur != nil && sameApp(old.api, cur.api) {
			return change{}, false
		}
		if cur == nil {
			delete(c.apps, name)
		} else {
			c.apps[name] = cur
		}
		c.reindexLocked(old, cur)
		c.retrackLocked(old, cur)
		ch.old, ch.new = old, cur
	case resource.KindRole:
		old, had := c.roles[name]
		role, ok := r.(*resource.Role)
		if !ok || ev.Deleted {
			if !had {
				return change{}, false
			}
			delete(c.roles, name)
		} else {
			if resync && had && sameRole(old, role) {
				return change{}, false
			}
			c.roles[name] = role
		}
	case resource.KindVNetConfig:
		cfg := resource.DefaultVNetConfig()
		if v, ok := r.(*resource.VNetConfig); ok && !ev.Deleted {
			cfg = v
		}
		next := VNetConfigToAPI(cfg)
		c.cfgRes = cfg
		if sameConfig(c.config, next) {
			return change{}, false
		}
		c.config = next
	default:
		return change{}, false
	}
	return ch, true
}

// recordLocked keeps changes for resuming watchers. Called with mu held.
func (c *Cache) recordLocked(changes ...change) {
	c.history = append(c.history, changes...)
	if n := len(c.history); n > 2*historyLen {
		// Amortised: drop to the newest historyLen at once. A change
		// dropped moves since; changes kept at that same revision are
		// skipped by a resume from it, which has them already.
		drop := n - historyLen
		c.since = max(c.since, c.history[drop-1].rev)
		c.history = append(c.history[:0], c.history[drop:]...)
	}
}

// notifyLocked gives changes to every feed. Called with mu held.
func (c *Cache) notifyLocked(changes []change) {
	if len(changes) == 0 {
		return
	}
	for f := range c.feeds {
		f.add(changes)
	}
}

// Revision is the revision of the last change applied.
func (c *Cache) Revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

// Apps is how many apps the cache holds.
func (c *Cache) Apps() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.apps)
}

// View is the vnet_config and the apps (by name) roleNames reach, as
// GetVNetConfig and ListApps show them, from the cache: no store read.
func (c *Cache) View(roleNames []string) (*api.VNetConfig, *api.ListAppsResponse) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	apps := &api.ListAppsResponse{ClusterName: c.clusterName, ProxyPublicAddr: c.publicAddr}
	apps.Apps = c.visibleLocked(c.rolesOfLocked(roleNames), true)
	return c.config, apps
}

// Config is the vnet_config as GetVNetConfig shows it.
func (c *Cache) Config() *api.VNetConfig {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.config
}

// Resources is the vnet_config and every app as stored (by name): what a
// leaf's claims are checked against. Callers must not modify them.
func (c *Cache) Resources() (*resource.VNetConfig, []*resource.App) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	apps := make([]*resource.App, 0, len(c.apps))
	for _, name := range slices.Sorted(maps.Keys(c.apps)) {
		apps = append(apps, c.apps[name].app)
	}
	return c.cfgRes, apps
}
