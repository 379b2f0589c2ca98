package vnet

import (
	"net/netip"

	"github.com/vnetproject/vnet/core/catalog"
)

// Progress hears what a person who started VNet wants to see, as it
// happens: each login's catalog arriving (or why it has not), and apps
// coming and going. `vnet up` prints it; the logs say the same for
// machines. Its methods are called from the engine's run, one at a time,
// and must not block.
type Progress interface {
	// Cluster is told once per login when VNet has heard from every
	// login once (c.Connected: its catalog loaded; else c.Error says why
	// not), and again whenever that changes: a catalog that arrives, or
	// a new reason it does not.
	Cluster(c ClusterStatus)
	// AppsChanged is told what each catalog change did to the apps'
	// names and addresses; the first change is every app (counted, and
	// listed when they are few: AppChanges).
	AppsChanged(changes AppChanges)
}

// MaxListedChanges is how many apps' arrivals and departures one change
// lists; more (a catalog of 100,000 apps loading) are only counted, so
// that no list over every app is made to be summed up in one line.
const MaxListedChanges = 100

// AppChanges is what one catalog change did to the apps.
type AppChanges struct {
	Added, Gone int // apps that got a name and an address, and that lost them
	// List is each of them when they are at most MaxListedChanges, else
	// nil.
	List []AppChange
}

// Len is how many apps changed.
func (c *AppChanges) Len() int { return c.Added + c.Gone }

// add counts ch, and lists it while the changes are few enough.
func (c *AppChanges) add(ch AppChange) {
	if ch.Added {
		c.Added++
	} else {
		c.Gone++
	}
	switch {
	case c.Len() <= MaxListedChanges:
		c.List = append(c.List, ch)
	case c.List != nil:
		c.List = nil
	}
}

// ClusterStatus is how one login is doing (catalog.ClusterStatus), for
// those who reach the catalog only through this package.
type ClusterStatus = catalog.ClusterStatus

// AppChange is one app that got a name and an address, or lost them.
type AppChange struct {
	Cluster   string     // the name its cluster reports
	ClusterID string     // who the cluster is (catalog.Cluster.ID)
	App       string     // the app's name in its cluster
	Name      string     // the name it answers at
	Addr      netip.Addr // its IPv4 address
	Added     bool       // false: it lost them
}

type nopProgress struct{}

func (nopProgress) Cluster(ClusterStatus)  {}
func (nopProgress) AppsChanged(AppChanges) {}

// told is what Progress last heard of one login.
type told struct {
	connected bool
	err       string
}

// reportClusters tells Progress of each login whose catalog arrived, or
// whose reason for not arriving is new, since it last looked. A login
// that has neither answered nor failed yet waits for the next look.
// Called from Run's goroutine only (firstOffer, reconcile).
func (e *Engine) reportClusters() {
	next := map[string]told{}
	for _, c := range e.cfg.Catalog.Status() {
		old, known := e.told[c.ID]
		now := told{connected: c.Connected, err: c.Error}
		switch {
		case c.Connected && (!known || !old.connected):
		case !c.Connected && c.Error != "" && (!known || old != now):
		default:
			if known {
				next[c.ID] = old
			}
			continue
		}
		next[c.ID] = now
		e.progress.Cluster(c)
	}
	e.told = next
}

// reportApps tells Progress what a sync did to the apps.
func (e *Engine) reportApps(changes AppChanges) {
	if changes.Len() == 0 {
		return
	}
	e.progress.AppsChanged(changes)
}
