// Package state reads and writes the cluster's resources (vnet_config, apps,
// ...) in its store, one validated resource per key.
package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/store"
)

const prefix = "/resources/"

// ErrNotFound means no resource of that kind and name exists.
var ErrNotFound = errors.New("not found")

// State is the typed view of a cluster's resources.
type State struct {
	store store.Store // never nil
}

// New returns the resources kept in st.
func New(st store.Store) *State { return &State{store: st} }

func key(kind, name string) string { return prefix + kind + "/" + name }

// Create stores r, which must be valid. Without force an existing resource
// of the same kind and name is an error; with force it is replaced.
// created reports whether r is new.
func (s *State) Create(ctx context.Context, r resource.Resource, force bool) (created bool, err error) {
	if err := r.CheckAndSetDefaults(); err != nil {
		return false, err
	}
	data, err := resource.Marshal(r)
	if err != nil {
		return false, err
	}
	k := key(r.Kind(), r.Name())
	err = s.store.Create(ctx, k, data)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrExists) && force:
		return false, s.store.Put(ctx, k, data)
	case errors.Is(err, store.ErrExists):
		return false, fmt.Errorf("%s %q already exists: use -f to overwrite, or 'vnet ctl edit'", r.Kind(), r.Name())
	default:
		return false, fmt.Errorf("store %s %q: %w", r.Kind(), r.Name(), err)
	}
}

// PutAll stores rs, each valid, replacing any of the same kind and name,
// in as few commits as the store allows: many resources at once (a
// cluster's static apps) without a commit each.
func (s *State) PutAll(ctx context.Context, rs []resource.Resource) error {
	items := make([]store.Item, 0, len(rs))
	for _, r := range rs {
		if err := r.CheckAndSetDefaults(); err != nil {
			return err
		}
		data, err := resource.Marshal(r)
		if err != nil {
			return err
		}
		items = append(items, store.Item{Key: key(r.Kind(), r.Name()), Value: data})
	}
	if err := s.store.PutAll(ctx, items); err != nil {
		return fmt.Errorf("store %d resources: %w", len(rs), err)
	}
	return nil
}

// Get returns one resource.
func (s *State) Get(ctx context.Context, kind, name string) (resource.Resource, error) {
	data, err := s.stored(ctx, kind, name)
	if err != nil {
		return nil, err
	}
	return resource.Parse(data)
}

// stored returns one resource as stored, unparsed.
func (s *State) stored(ctx context.Context, kind, name string) ([]byte, error) {
	data, err := s.store.Get(ctx, key(kind, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
	}
	return data, err
}

// Delete removes one resource.
func (s *State) Delete(ctx context.Context, kind, name string) error {
	err := s.store.Delete(ctx, key(kind, name))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("remove %s %q: %w", kind, name, err)
	}
	return nil
}

// List returns every resource of kind, sorted by name.
func (s *State) List(ctx context.Context, kind string) ([]resource.Resource, error) {
	items, err := s.store.List(ctx, key(kind, ""))
	if err != nil {
		return nil, err
	}
	out := make([]resource.Resource, 0, len(items))
	for _, it := range items {
		r, err := resource.Parse(it.Value)
		if err != nil {
			return nil, fmt.Errorf("stored %s is damaged: %w", it.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// VNetConfig returns the cluster's vnet_config, or the default one if the
// administrator has not created one.
func (s *State) VNetConfig(ctx context.Context) (*resource.VNetConfig, error) {
	r, err := s.Get(ctx, resource.KindVNetConfig, resource.VNetConfigName)
	if errors.Is(err, ErrNotFound) {
		return resource.DefaultVNetConfig(), nil
	}
	if err != nil {
		return nil, err
	}
	cfg, ok := r.(*resource.VNetConfig)
	if !ok {
		return nil, fmt.Errorf("stored vnet_config has kind %s", r.Kind())
	}
	return cfg, nil
}

// Apps returns every registered app.
func (s *State) Apps(ctx context.Context) ([]*resource.App, error) {
	rs, err := s.List(ctx, resource.KindApp)
	if err != nil {
		return nil, err
	}
	apps := make([]*resource.App, 0, len(rs))
	for _, r := range rs {
		if a, ok := r.(*resource.App); ok {
			apps = append(apps, a)
		}
	}
	return apps, nil
}

// App returns the app called name.
func (s *State) App(ctx context.Context, name string) (*resource.App, error) {
	data, err := s.StoredApp(ctx, name)
	if err != nil {
		return nil, err
	}
	return ParseApp(name, data)
}

// StoredApp returns the app called name as stored, unparsed, or
// ErrNotFound: for a caller that keeps the apps it parsed (ParseApp) and
// parses one again only when its stored bytes changed.
func (s *State) StoredApp(ctx context.Context, name string) ([]byte, error) {
	return s.stored(ctx, resource.KindApp, name)
}

// StoredRecord returns the resource of kind called name as stored,
// unparsed, or ErrNotFound: StoredApp for any kind (the proxy keeps the
// apps and roles of its dials parsed while their bytes do not change).
func (s *State) StoredRecord(ctx context.Context, kind, name string) ([]byte, error) {
	return s.stored(ctx, kind, name)
}

// ParseApp reads the stored app called name as App does.
func ParseApp(name string, data []byte) (*resource.App, error) {
	r, err := resource.Parse(data)
	if err != nil {
		return nil, err
	}
	a, ok := r.(*resource.App)
	if !ok {
		return nil, fmt.Errorf("stored app %q has kind %s", name, r.Kind())
	}
	return a, nil
}

// Stored returns every resource of kind as stored (by name), unparsed: for
// comparing many resources with what is stored without parsing each.
func (s *State) Stored(ctx context.Context, kind string) (map[string][]byte, error) {
	items, err := s.store.List(ctx, key(kind, ""))
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(items))
	for _, it := range items {
		out[it.Key[len(key(kind, "")):]] = it.Value
	}
	return out, nil
}
