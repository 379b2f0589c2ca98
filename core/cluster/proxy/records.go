package proxy

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
)

// maxParsedRecords bounds the records a records cache keeps parsed: the
// apps being dialled and the roles of the users dialling, not a copy of
// the catalog (appcache holds that).
const maxParsedRecords = 1024

// records reads the app and the roles of a dial from the store, as it
// always did, and parses a record's YAML only when the stored bytes
// differ from those it parsed last time: a new connection to the same app
// by the same user costs a store read per record (a bbolt read
// transaction; on etcd a round trip, as before) and a byte comparison,
// not a parse. The store stays the authority: a dial sees every change
// committed before it, as with state.Get, which the catalog cache
// (appcache, fed by a watch) would only after its watcher caught up.
type records struct {
	state *state.State // never nil

	mu     sync.Mutex
	parsed map[recordKey]parsedRecord // at most maxParsedRecords
}

type recordKey struct{ kind, name string }

// parsedRecord is a record's stored bytes and what they parse to, shared
// read-only by every dial that reads it (serve takes a copy of an app,
// WithTarget; roles are only read).
type parsedRecord struct {
	raw []byte
	res resource.Resource
}

// app returns the app called name as stored now, or state.ErrNotFound.
func (r *records) app(ctx context.Context, name string) (*resource.App, error) {
	return recordOf[*resource.App](ctx, r, resource.KindApp, name)
}

// role returns the role called name as stored now, or state.ErrNotFound.
func (r *records) role(ctx context.Context, name string) (*resource.Role, error) {
	return recordOf[*resource.Role](ctx, r, resource.KindRole, name)
}

// recordOf is r.get's record as the type T of its kind.
func recordOf[T resource.Resource](ctx context.Context, r *records, kind, name string) (T, error) {
	var zero T
	res, err := r.get(ctx, kind, name)
	if err != nil {
		return zero, err
	}
	t, ok := res.(T)
	if !ok {
		return zero, fmt.Errorf("stored %s %q has kind %s", kind, name, res.Kind())
	}
	return t, nil
}

// get returns the record of kind called name as stored now, parsed once
// per stored version.
func (r *records) get(ctx context.Context, kind, name string) (resource.Resource, error) {
	raw, err := r.state.StoredRecord(ctx, kind, name)
	if err != nil {
		return nil, err
	}
	k := recordKey{kind, name}
	r.mu.Lock()
	p, ok := r.parsed[k]
	r.mu.Unlock()
	if ok && bytes.Equal(p.raw, raw) {
		return p.res, nil
	}
	res, err := resource.Parse(raw)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.parsed == nil || len(r.parsed) >= maxParsedRecords {
		r.parsed = map[recordKey]parsedRecord{} // start over rather than track use
	}
	r.parsed[k] = parsedRecord{raw: raw, res: res}
	return res, nil
}
