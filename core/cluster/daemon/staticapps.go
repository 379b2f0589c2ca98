package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// cluster.yaml's apps are stored at every start. A restart with the file
// unchanged must not cost a parse or a marshal of every app (27 s at
// 100,000 apps, issue 13): the daemon keeps a digest of the apps as the
// file had them and of the bytes it stored for them,
//
//	/cluster_yaml/apps -> staticDigest (JSON)
//
// and when both still match, every app is as stored. Anything else (the
// file changed, an app removed with --force or rewritten by another proxy
// of the store with its own cluster.yaml) compares app by app.
const staticDigestKey = "/cluster_yaml/apps"

// staticDigest is what the last start stored.
type staticDigest struct {
	File   string `json:"file"`   // fileDigest of cluster.yaml's apps
	Stored string `json:"stored"` // storedDigest of their stored bytes
}

// fileDigest is a digest of apps as cluster.yaml gives them (JSON: every
// field, map keys sorted; far cheaper than YAML).
func fileDigest(apps []*resource.App) string {
	h := sha256.New()
	h.Write([]byte("vnet static apps v1\n"))
	enc := json.NewEncoder(h)
	for _, a := range apps {
		if err := enc.Encode(a); err != nil {
			return "" // never matches
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// storedDigest is a digest of the bytes stored for apps (names in raw).
func storedDigest(apps []*resource.App, raw map[string][]byte) string {
	h := sha256.New()
	for _, a := range apps {
		data, ok := raw[a.Name()]
		fmt.Fprintf(h, "%q %t %d\n", a.Name(), ok, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// storeStaticApps writes cluster.yaml's apps (replacing an app of the same
// name: the file is the administrator's) and returns those stored. An app
// whose address another stored app already holds ('vnet ctl create', an
// agent, an earlier cluster.yaml) is refused with one line in the log and
// the audit log: the daemon starts with the rest. Apps stored as they are
// in the file are not written again, and the rest are written together:
// a start with a hundred thousand apps takes seconds, not minutes. Apps
// stored as the file has them are found by the digest above or by their
// bytes, without parsing them; only the other stored apps are parsed, for
// their addresses.
func (d *Daemon) storeStaticApps(ctx context.Context, res *state.State, apps []*resource.App) ([]*resource.App, error) {
	raw, err := res.Stored(ctx, resource.KindApp)
	if err != nil {
		return nil, err
	}
	var last staticDigest
	switch data, err := d.store.Get(ctx, staticDigestKey); {
	case err == nil:
		_ = json.Unmarshal(data, &last) // damaged: compared app by app
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	now := staticDigest{File: fileDigest(apps), Stored: storedDigest(apps, raw)}
	unchanged := map[string]*resource.App{} // stored as the file has them
	for _, a := range apps {
		if now == last {
			unchanged[a.Name()] = a
		} else if stored, ok := raw[a.Name()]; !ok {
			continue // new: nothing to compare
		} else if data, err := resource.Marshal(a); err == nil && bytes.Equal(data, stored) {
			unchanged[a.Name()] = a
		}
	}
	proxyHost := resource.ProxyHost(d.cfg.Proxy.PublicAddr)
	byName := map[string]*resource.App{}
	byAddr := map[string][]*resource.App{} // the apps holding each address
	hold := func(a *resource.App) {
		byName[a.Name()] = a
		addr := a.Addr(proxyHost)
		byAddr[addr] = append(byAddr[addr], a)
	}
	release := func(a *resource.App) {
		addr := a.Addr(proxyHost)
		byAddr[addr] = slices.DeleteFunc(byAddr[addr], func(b *resource.App) bool { return b == a })
	}
	for name, data := range raw {
		if a := unchanged[name]; a != nil {
			hold(a)
			continue
		}
		r, err := resource.ParseStored(data)
		if err != nil {
			return nil, fmt.Errorf("stored app %q is damaged: %w", name, err)
		}
		if a, ok := r.(*resource.App); ok {
			hold(a)
		}
	}
	var out []*resource.App
	var changed []resource.Resource
	for _, a := range apps {
		if err := resource.CheckAddrFree(a, byAddr[a.Addr(proxyHost)], proxyHost); err != nil {
			d.log.Warn("cluster.yaml app refused: "+err.Error(), "app", a.Name())
			d.audit.Emit(audit.Event{Time: time.Now(), Type: audit.AppClaimRefused, User: "cluster.yaml", Cluster: d.cfg.ClusterName, App: a.Name(), Error: err.Error()})
			continue
		}
		old := byName[a.Name()]
		if old != a { // an app stored as the file has it is held as itself
			changed = append(changed, a)
		}
		// a replaces its stored version, whose address may have been another.
		if old != nil {
			release(old)
		}
		hold(a)
		out = append(out, a)
	}
	if err := res.PutAll(ctx, changed); err != nil {
		return nil, fmt.Errorf("register cluster.yaml's apps: %w", err)
	}
	if now == last {
		return out, nil
	}
	// A refused app is not stored as the file has it: its digest would
	// match nothing next time either, so none is kept.
	if len(out) == len(apps) {
		if err := d.storeStaticDigest(ctx, res, apps); err != nil {
			return nil, err
		}
	} else if err := d.store.Delete(ctx, staticDigestKey); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return out, nil
}

// storeStaticDigest records the digest of apps as stored now.
func (d *Daemon) storeStaticDigest(ctx context.Context, res *state.State, apps []*resource.App) error {
	raw, err := res.Stored(ctx, resource.KindApp)
	if err != nil {
		return err
	}
	data, err := json.Marshal(staticDigest{File: fileDigest(apps), Stored: storedDigest(apps, raw)})
	if err != nil {
		return err
	}
	if err := d.store.Put(ctx, staticDigestKey, data); err != nil {
		return fmt.Errorf("store the digest of cluster.yaml's apps: %w", err)
	}
	return nil
}
