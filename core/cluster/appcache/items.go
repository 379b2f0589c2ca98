package appcache

import (
	"maps"
	"slices"
	"strings"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// AppsPrefix is where the apps live in the store: the keys the cache can
// answer for as the store would (Items).
const AppsPrefix = resourcesPrefix + resource.KindApp + "/"

// Items answers for the apps' keys from the cache, as a store.Source: a
// store.Mirror then keeps no copy of its own of every app for when the
// store is unavailable. Values are the apps marshalled again (they parse
// as the stored ones do), made on each read: reads come here only while
// the store is down.
func (c *Cache) Items() store.Source { return items{c} }

type items struct{ c *Cache }

func (it items) Get(key string) ([]byte, bool) {
	name, ok := strings.CutPrefix(key, AppsPrefix)
	if !ok {
		return nil, false
	}
	it.c.mu.RLock()
	e := it.c.apps[name]
	it.c.mu.RUnlock()
	if e == nil {
		return nil, false
	}
	data, err := resource.Marshal(e.app)
	return data, err == nil
}

func (it items) List(prefix string) []store.Item {
	if !strings.HasPrefix(prefix, AppsPrefix) && !strings.HasPrefix(AppsPrefix, prefix) {
		return nil
	}
	namePrefix := strings.TrimPrefix(prefix, AppsPrefix) // "" when prefix covers every app
	if len(prefix) < len(AppsPrefix) {
		namePrefix = ""
	}
	it.c.mu.RLock()
	var names []string
	var apps []*resource.App
	for _, name := range slices.Sorted(maps.Keys(it.c.apps)) {
		if strings.HasPrefix(name, namePrefix) {
			names, apps = append(names, name), append(apps, it.c.apps[name].app)
		}
	}
	it.c.mu.RUnlock()
	out := make([]store.Item, 0, len(apps))
	for i, a := range apps {
		if data, err := resource.Marshal(a); err == nil {
			out = append(out, store.Item{Key: AppsPrefix + names[i], Value: data})
		}
	}
	return out
}
