package catalog

import (
	"fmt"
	"maps"
	"slices"

	"github.com/vnetproject/vnet/core/api"
)

// deltaView is a cluster's catalog as a stream of deltas builds it
// (api.CatalogUpdate): apps by name, so a change costs what it changes,
// and the revision to resume from. A full set arriving in pages is
// gathered in pending and replaces the view only once complete, so the
// laptop answers from what it knew until then.
type deltaView struct {
	revision int64 // of the last update applied; 0: nothing to resume from
	root     clusterState
	leaves   []*api.LeafCatalog
	complete bool // a full set has been applied: the view is worth offering
	// leavesPending is the last update's leaves_pending.
	leavesPending bool
	// storeUnavailable is the last update's store_unavailable.
	storeUnavailable string

	pending    *clusterState // a full set being received; nil otherwise
	pendingRev int64         // the revision pending's pages brought
	labels     labelSet      // the apps' labels, each set held once
}

// clusterState is one cluster's config and apps.
type clusterState struct {
	config    *api.VNetConfig
	name      string
	proxyAddr string
	// apps by name, each as the catalog keeps it (appFrom): the one copy
	// of an app on the laptop besides the snapshot's, not the message it
	// came in (at 100,000 apps the protobufs alone held 50 MiB).
	apps map[string]App
	// names are apps' keys in order, kept as names come and go (a sort
	// of every name per change costs more than the change).
	names []string
}

// put adds or replaces an app.
func (st *clusterState) put(a App) {
	if _, ok := st.apps[a.Name]; !ok {
		i, _ := slices.BinarySearch(st.names, a.Name)
		st.names = slices.Insert(st.names, i, a.Name)
	}
	st.apps[a.Name] = a
}

// remove drops the app called name, if there is one.
func (st *clusterState) remove(name string) {
	if _, ok := st.apps[name]; !ok {
		return
	}
	delete(st.apps, name)
	if i, ok := slices.BinarySearch(st.names, name); ok {
		st.names = slices.Delete(st.names, i, i+1)
	}
}

// apply takes one update of a delta stream. It reports whether the view
// changed in a way worth offering (not in the middle of a full set).
func (v *deltaView) apply(u *api.CatalogUpdate) (bool, error) {
	if u.GetResync() {
		v.pending = &clusterState{apps: map[string]App{}}
		v.labels = labelSet{} // the label sets of this full set on
	}
	if v.labels == nil {
		v.labels = labelSet{}
	}
	v.leavesPending = u.GetLeavesPending()
	v.storeUnavailable = u.GetStoreUnavailable()
	target := &v.root
	if v.pending != nil {
		target = v.pending
	} else if !v.complete {
		return false, fmt.Errorf("a change at revision %d arrived before any full set", u.GetRevision())
	}
	if u.GetConfig() != nil {
		target.config = u.GetConfig()
	}
	if a := u.GetApps(); a != nil {
		target.name, target.proxyAddr = a.GetClusterName(), a.GetProxyPublicAddr()
		if target == v.pending {
			// A full set's pages: sorted once, when complete.
			for _, app := range a.GetApps() {
				target.apps[app.GetName()] = v.labels.appFrom(app)
			}
		} else {
			for _, app := range a.GetApps() {
				target.put(v.labels.appFrom(app))
			}
		}
	}
	for _, name := range u.GetRemoved() {
		target.remove(name)
	}
	if u.GetLeavesSet() {
		v.leaves = u.GetLeaves()
	}
	if v.pending == nil {
		v.revision = u.GetRevision()
		return !u.GetMore(), nil
	}
	v.pendingRev = u.GetRevision()
	if u.GetMore() {
		return false, nil
	}
	if v.pending.config == nil {
		return false, fmt.Errorf("a full set at revision %d came without its vnet_config", u.GetRevision())
	}
	v.pending.names = slices.Sorted(maps.Keys(v.pending.apps))
	v.root, v.pending, v.complete, v.revision = *v.pending, nil, true, v.pendingRev
	return true, nil
}

// applyWhole takes an update from a proxy that does not send deltas: the
// whole catalog each time.
func (v *deltaView) applyWhole(u *api.CatalogUpdate) {
	st := clusterState{
		config:    u.GetConfig(),
		name:      u.GetApps().GetClusterName(),
		proxyAddr: u.GetApps().GetProxyPublicAddr(),
		apps:      make(map[string]App, len(u.GetApps().GetApps())),
	}
	labels := labelSet{}
	for _, a := range u.GetApps().GetApps() {
		st.apps[a.GetName()] = labels.appFrom(a)
	}
	st.names = slices.Sorted(maps.Keys(st.apps))
	*v = deltaView{root: st, leaves: u.GetLeaves(), complete: true, storeUnavailable: u.GetStoreUnavailable(), labels: labels}
}

// offer is the view as the catalog takes it: the root first (its apps in
// name order), then its leaves. A leaf with a bad config is left out
// rather than hide the others.
func (v *deltaView) offer() ([]Cluster, error) {
	root, err := clusterHead(v.root.config, v.root.name, v.root.proxyAddr)
	if err != nil {
		return nil, err
	}
	root.Apps = make([]App, len(v.root.names))
	for i, n := range v.root.names {
		root.Apps[i] = v.root.apps[n]
	}
	root.LeavesPending = v.leavesPending
	root.Revision = v.revision
	root.StoreUnavailable = v.storeUnavailable
	out := []Cluster{root}
	for _, l := range v.leaves {
		leaf, err := clusterFrom(l.GetConfig(), l.GetApps())
		if err != nil {
			continue
		}
		leaf.Refused = l.GetRefused()
		out = append(out, leaf)
	}
	return out, nil
}

// resumeFrom is the revision a new stream may resume from (0: none), and
// forgets a full set the last stream left half-sent.
func (v *deltaView) resumeFrom() int64 {
	v.pending = nil
	if !v.complete {
		return 0
	}
	return v.revision
}

// isWhole reports whether u is from a proxy that sends the whole catalog
// every time (it ignored WatchCatalogRequest.deltas): every delta stream
// update has a revision or starts a full set.
func (v *deltaView) isWhole(u *api.CatalogUpdate) bool {
	return !u.GetResync() && u.GetRevision() == 0 && v.pending == nil
}
