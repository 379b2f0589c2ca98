package vnet

import (
	"context"
	"slices"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/profile"
)

// Offers is what the logged-in clusters offer now, checked by the rules of
// a running VNet (the first owner of a name wins, refused claims are left
// out), without running one: what `vnet apps` lists.
type Offers struct {
	// Apps in login order (each profile's root, then its leaves).
	Apps []OfferedApp
	// Down are the logins whose cluster did not answer, in login order.
	Down []DownLogin
	// Refused are the claims refused, the clusters' ranges last.
	Refused []catalog.Refusal
}

// OfferedApp is one app a cluster offers.
type OfferedApp struct {
	// Cluster is the name the cluster reports, with its ID in brackets
	// when another cluster reports the same name.
	Cluster string
	Name    string
	// Addr is the app's effective address: public_addr, or
	// <name>.<proxy host>. Empty when it can have no name.
	Addr string
	// Unreachable is why the app cannot be reached by name, in one line;
	// "" when it can.
	Unreachable string
}

// DownLogin is a login whose cluster did not answer.
type DownLogin struct {
	Cluster string // the name in the profile
	ID      string // its proxy address
	Error   string // one line
}

// FetchOffers asks the cluster of every profile (in login order, as
// profile.LoadAll gives them) what it offers now. It fails only when a
// profile cannot be used at all; a cluster that does not answer is in
// Offers.Down.
func FetchOffers(ctx context.Context, profiles []*profile.Profile) (Offers, error) {
	var out Offers
	var all []catalog.Cluster
	for _, p := range profiles {
		conn, err := p.Dial()
		if err != nil {
			return Offers{}, err
		}
		clusters, err := firstOffer(ctx, catalog.NewProxySource(conn))
		conn.Close()
		if err != nil {
			out.Down = append(out.Down, DownLogin{Cluster: p.ClusterName, ID: p.ID(), Error: api.ErrorLine(err)})
			continue
		}
		all = append(all, catalog.Identify(p.ID(), clusters)...)
	}
	snap := catalog.NewSnapshot(all)
	_, refusedRanges := snap.AcceptRanges(nil)
	for _, c := range snap.Clusters {
		name := c.Name
		if sameName(snap, c) {
			name += " (" + c.ID + ")"
		}
		for _, a := range c.Apps {
			app := OfferedApp{Cluster: name, Name: a.Name, Addr: a.Addr}
			switch {
			case a.Unnamed != "":
				app.Unreachable = a.Unnamed
			case rangeRefused(refusedRanges, c.ID) != "":
				app.Unreachable = rangeRefused(refusedRanges, c.ID)
			}
			out.Apps = append(out.Apps, app)
		}
	}
	out.Refused = slices.Concat(snap.Refused, refusedRanges)
	return out, nil
}

// sameName reports whether another cluster of snap reports c's name.
func sameName(snap *catalog.Snapshot, c catalog.Cluster) bool {
	for _, o := range snap.Clusters {
		if o.ID != c.ID && o.Name == c.Name {
			return true
		}
	}
	return false
}

func rangeRefused(refused []catalog.Refusal, id string) string {
	for _, r := range refused {
		if r.Cluster == id {
			return "its range " + r.Claim + " was refused: " + r.Reason
		}
	}
	return ""
}

// firstOffer is what a logged-in cluster offers now: itself and its leaf
// clusters (the first update of its catalog stream in which every leaf
// has answered).
func firstOffer(ctx context.Context, src catalog.Source) ([]catalog.Cluster, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var got []catalog.Cluster
	err := src.Watch(ctx, func(cs []catalog.Cluster) {
		if got == nil && !cs[0].LeavesPending {
			got = cs
			cancel()
		}
	})
	if got != nil {
		return got, nil
	}
	return nil, err
}
