package appcache

import "github.com/vnetproject/vnet/core/cluster/resource"

// A Subset is the apps of the cache that one predicate keeps, kept up to
// date as each change is applied, so that a caller that needs a few apps
// of many (the agents' sweep: the apps agents registered, every
// heartbeat) does not test every app each time. At 100,000 apps a
// Select per heartbeat was a third of an idle proxy's CPU (issue 13).
type Subset struct {
	keep func(*resource.App) bool
	apps map[string]*resource.App // guarded by the cache's mu; by app name
}

// Track returns the subset of apps keep keeps, starting from the apps
// held now and following every change after; keep must be cheap and pure.
func (c *Cache) Track(keep func(*resource.App) bool) *Subset {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &Subset{keep: keep, apps: map[string]*resource.App{}}
	for name, e := range c.apps {
		if keep(e.app) {
			s.apps[name] = e.app
		}
	}
	c.subsets = append(c.subsets, s)
	return s
}

// SubsetApps returns the subset's apps, in no order, as the cache holds
// them now. Callers must not modify them.
func (c *Cache) SubsetApps(s *Subset) []*resource.App {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*resource.App, 0, len(s.apps))
	for _, a := range s.apps {
		out = append(out, a)
	}
	return out
}

// retrackLocked moves an app in every subset from its old version to its
// new one (nil: absent). Called with c.mu held for writing.
func (c *Cache) retrackLocked(old, cur *entry) {
	for _, s := range c.subsets {
		if old != nil {
			delete(s.apps, old.app.Name())
		}
		if cur != nil && s.keep(cur.app) {
			s.apps[cur.app.Name()] = cur.app
		}
	}
}
