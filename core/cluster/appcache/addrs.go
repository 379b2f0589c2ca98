package appcache

import (
	"context"
	"fmt"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

// An app's address is one app's (resource.CheckAddrFree). The admin calls
// and the agents' claims check it against the cache, through an index of
// the apps by address, instead of parsing every stored app per write:
// at 100,000 apps that took 16 s per 'vnet ctl create' (issue 13).

// addrIndex is the names of the apps holding each address (more than one
// only for apps stored before the rule).
type addrIndex map[string]map[string]bool

// reindexLocked moves an app in the index from its old version to its
// new one (nil: absent). Called with c.mu held for writing.
func (c *Cache) reindexLocked(old, cur *entry) {
	if old != nil {
		addr := old.app.Addr(c.proxyHost())
		delete(c.byAddr[addr], old.app.Name())
		if len(c.byAddr[addr]) == 0 {
			delete(c.byAddr, addr)
		}
	}
	if cur != nil {
		addr := cur.app.Addr(c.proxyHost())
		if c.byAddr[addr] == nil {
			c.byAddr[addr] = map[string]bool{}
		}
		c.byAddr[addr][cur.app.Name()] = true
	}
}

func (c *Cache) proxyHost() string { return resource.ProxyHost(c.publicAddr) }

// App returns the app called name as stored, or nil. Callers must not
// modify it.
func (c *Cache) App(name string) *resource.App {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.apps[name]; e != nil {
		return e.app
	}
	return nil
}

// CheckAddrFree is resource.CheckAddrFree against the apps the cache
// holds: an *resource.AddrInUseError if app's address is the proxy's own
// host or another app's.
func (c *Cache) CheckAddrFree(app *resource.App) error {
	host := c.proxyHost()
	c.mu.RLock()
	defer c.mu.RUnlock()
	var holders []*resource.App
	for name := range c.byAddr[app.Addr(host)] {
		holders = append(holders, c.apps[name].app)
	}
	return resource.CheckAddrFree(app, holders, host)
}

// CatchUp waits until the cache has applied every change the store had
// committed when it was called: a writer that checked a claim against the
// cache calls it before the next claim is checked, so that two claims
// made one after the other through this proxy see each other.
func (c *Cache) CatchUp(ctx context.Context) error {
	// An empty prefix would list everything: this one lists nothing and
	// still reads the store's revision.
	_, rev, err := c.st.Snapshot(ctx, "/vnet-revision/")
	if err != nil {
		return fmt.Errorf("read the store's revision: %w", err)
	}
	for {
		c.mu.RLock()
		done, wait := c.rev >= rev, c.advanced
		c.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("the catalog cache did not catch up with the store: %w", ctx.Err())
		}
	}
}

// advanceLocked wakes CatchUp's waiters after the revision moved. Called
// with c.mu held for writing.
func (c *Cache) advanceLocked() {
	close(c.advanced)
	c.advanced = make(chan struct{})
}
