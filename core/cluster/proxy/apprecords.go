package proxy

import (
	"bytes"
	"context"
	"sync"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
)

// maxParsedApps bounds the apps appRecords keeps parsed: the apps being
// dialled, not a copy of the catalog (appcache holds that).
const maxParsedApps = 1024

// appRecords reads the app of a dial from the store, as it always did,
// and parses its YAML only when the stored bytes differ from those it
// parsed last time: a new connection to the same app costs a store read
// (a bbolt read transaction; on etcd a round trip, as before) and a byte
// comparison, not a parse. The store stays the authority: a dial sees
// every change committed before it, as with state.App, which the
// catalog cache (appcache, fed by a watch) would only after its watcher
// caught up.
type appRecords struct {
	state *state.State // never nil

	mu     sync.Mutex
	parsed map[string]parsedApp // by name; at most maxParsedApps
}

// parsedApp is an app's stored bytes and what they parse to, shared
// read-only by every dial of the app (serve takes a copy, WithTarget).
type parsedApp struct {
	raw []byte
	app *resource.App
}

// app returns the app called name as stored now, or state.ErrNotFound.
func (r *appRecords) app(ctx context.Context, name string) (*resource.App, error) {
	raw, err := r.state.StoredApp(ctx, name)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	p, ok := r.parsed[name]
	r.mu.Unlock()
	if ok && bytes.Equal(p.raw, raw) {
		return p.app, nil
	}
	app, err := state.ParseApp(name, raw)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.parsed == nil || len(r.parsed) >= maxParsedApps {
		r.parsed = map[string]parsedApp{} // start over rather than track use
	}
	r.parsed[name] = parsedApp{raw: raw, app: app}
	return app, nil
}
