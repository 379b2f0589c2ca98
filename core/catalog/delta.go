package catalog

import (
	"fmt"
	"slices"
	"strings"

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
	// apps in name order, each as the catalog keeps it (appFrom): the
	// one copy of an app on the laptop, not the message it came in (at
	// 100,000 apps the protobufs alone held 50 MiB). The offers and
	// snapshots made from it share it (shared), so a change copies it
	// first: one copy per change rather than a map, a list of names, an
	// offer and a snapshot each holding every app.
	apps   []App
	shared bool // apps was handed out by offer: copy before changing it
	// host is the proxy host apps' Addr and Unnamed were given for
	// (effectiveAddr): a snapshot then has nothing to compute for an app
	// whose name nothing else contests.
	host       string
	hostIsName bool
}

// setHost names apps for the host of proxyAddr, again if it changed.
func (st *clusterState) setHost(proxyAddr string) {
	host := proxyHost(proxyAddr)
	if host == st.host && st.hostIsName == proxyHostName(host) {
		return
	}
	st.own()
	st.host, st.hostIsName = host, proxyHostName(host)
	for i := range st.apps {
		st.nameApp(&st.apps[i])
	}
}

// nameApp gives a its address for st's host.
func (st *clusterState) nameApp(a *App) {
	a.Addr, a.Unnamed = effectiveAddr(a, st.host, st.hostIsName)
}

// own makes apps st's to change.
func (st *clusterState) own() {
	if st.shared {
		st.apps, st.shared = slices.Clone(st.apps), false
	}
}

func byName(a App, name string) int { return strings.Compare(a.Name, name) }

// put adds or replaces an app.
func (st *clusterState) put(a App) {
	st.own()
	if i, ok := slices.BinarySearchFunc(st.apps, a.Name, byName); ok {
		st.apps[i] = a
	} else {
		st.apps = slices.Insert(st.apps, i, a)
	}
}

// remove drops the app called name, if there is one.
func (st *clusterState) remove(name string) {
	if i, ok := slices.BinarySearchFunc(st.apps, name, byName); ok {
		st.own()
		st.apps = slices.Delete(st.apps, i, i+1)
	}
}

// fewChanges is how many apps an update may add or remove one at a time
// (each a copy of the rest of the list): more are merged in one pass.
const fewChanges = 8

// putAll adds or replaces apps.
func (st *clusterState) putAll(apps []App) {
	if len(apps) <= fewChanges {
		for _, a := range apps {
			st.put(a)
		}
		return
	}
	apps = sortApps(apps)
	merged := make([]App, 0, len(st.apps)+len(apps))
	i := 0
	for _, a := range apps {
		for i < len(st.apps) && st.apps[i].Name < a.Name {
			merged = append(merged, st.apps[i])
			i++
		}
		if i < len(st.apps) && st.apps[i].Name == a.Name {
			i++ // replaced
		}
		merged = append(merged, a)
	}
	st.apps, st.shared = append(merged, st.apps[i:]...), false
}

// removeAll drops the apps called names.
func (st *clusterState) removeAll(names []string) {
	if len(names) <= fewChanges {
		for _, n := range names {
			st.remove(n)
		}
		return
	}
	gone := make(map[string]bool, len(names))
	for _, n := range names {
		gone[n] = true
	}
	kept := make([]App, 0, len(st.apps))
	for _, a := range st.apps {
		if !gone[a.Name] {
			kept = append(kept, a)
		}
	}
	st.apps, st.shared = kept, false
}

// sortApps puts apps gathered in any order in name order, the last of
// each name kept (as a map would).
func sortApps(apps []App) []App {
	slices.SortStableFunc(apps, func(a, b App) int { return strings.Compare(a.Name, b.Name) })
	out := apps[:0]
	for i, a := range apps {
		if i+1 < len(apps) && apps[i+1].Name == a.Name {
			continue
		}
		out = append(out, a)
	}
	return slices.Clip(out)
}

// apply takes one update of a delta stream. It reports whether the view
// changed in a way worth offering (not in the middle of a full set).
func (v *deltaView) apply(u *api.CatalogUpdate) (bool, error) {
	if u.GetResync() {
		v.pending = &clusterState{}
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
		target.setHost(target.proxyAddr)
		if target == v.pending {
			// A full set's pages: sorted once, when complete.
			for _, app := range a.GetApps() {
				target.apps = append(target.apps, v.labels.appFrom(app))
				target.nameApp(&target.apps[len(target.apps)-1])
			}
		} else {
			apps := make([]App, len(a.GetApps()))
			for i, app := range a.GetApps() {
				apps[i] = v.labels.appFrom(app)
				target.nameApp(&apps[i])
			}
			target.putAll(apps)
		}
	}
	if target == v.pending && len(u.GetRemoved()) > 0 {
		target.apps = sortApps(target.apps) // removeAll searches in name order
	}
	target.removeAll(u.GetRemoved())
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
	v.pending.apps = sortApps(v.pending.apps)
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
		apps:      make([]App, 0, len(u.GetApps().GetApps())),
	}
	st.setHost(st.proxyAddr)
	labels := labelSet{}
	for _, a := range u.GetApps().GetApps() {
		st.apps = append(st.apps, labels.appFrom(a))
		st.nameApp(&st.apps[len(st.apps)-1])
	}
	st.apps = sortApps(st.apps)
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
	root.Apps, v.root.shared = v.root.apps, true
	root.named = root.ProxyHost == v.root.host
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
