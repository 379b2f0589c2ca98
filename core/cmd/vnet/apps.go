package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/profile"
)

// runApps lists the TCP apps of every cluster the user is logged in to,
// each at its effective address (public_addr, or <name>.<proxy host>), and
// why an app cannot be reached by name, by the same rules as `vnet up`.
func runApps(ctx context.Context, args []string) error {
	fs := newFlags("apps", "vnet apps")
	if err := fs.Parse(args); err != nil {
		return err
	}
	profiles, err := profile.LoadAll(profile.Home())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tAPP\tADDRESS\tREACHABLE BY NAME")
	// In login order, as `vnet up` sees them: the first owner wins.
	var all []catalog.Cluster
	for _, p := range profiles {
		conn, err := p.Dial()
		if err != nil {
			return err
		}
		clusters, err := offer(ctx, catalog.NewProxySource(conn))
		conn.Close()
		if err != nil {
			fmt.Fprintf(w, "%s\t(unreachable at %s: %s)\t\t\n", p.ClusterName, p.ID(), oneLine(err))
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
			reach := "yes"
			switch {
			case a.Unnamed != "":
				reach = "no: " + a.Unnamed
			case rangeRefused(refusedRanges, c.ID) != "":
				reach = "no: " + rangeRefused(refusedRanges, c.ID)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, a.Name, optional(a.Addr, a.Addr != ""), reach)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, r := range append(snap.Refused, refusedRanges...) {
		fmt.Println("refused:", r)
	}
	return nil
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

// offer is what a logged-in cluster offers now: itself and its leaf
// clusters (the first update of its catalog stream).
func offer(ctx context.Context, src catalog.Source) ([]catalog.Cluster, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var got []catalog.Cluster
	err := src.Watch(ctx, func(cs []catalog.Cluster) {
		if got == nil {
			got = cs
			cancel()
		}
	})
	if got != nil {
		return got, nil
	}
	return nil, err
}
