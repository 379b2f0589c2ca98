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

// runApps lists the TCP apps of every cluster the user is logged in to.
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
	fmt.Fprintln(w, "CLUSTER\tAPP\tPUBLIC ADDRESS\tREACHABLE BY NAME")
	for _, p := range profiles {
		conn, err := p.Dial()
		if err != nil {
			return err
		}
		clusters, err := offer(ctx, catalog.NewProxySource(conn))
		conn.Close()
		if err != nil {
			fmt.Fprintf(w, "%s\t(unreachable: %s)\t\t\n", p.ClusterName, oneLine(err))
			continue
		}
		for _, c := range clusters {
			for _, a := range c.Apps {
				reach := "yes"
				switch {
				case a.PublicAddr == "":
					reach = "no: no public_addr"
				case !c.Captured(a.PublicAddr):
					reach = "no: add a custom_dns_zones suffix for it to vnet_config"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.Name, a.Name, a.PublicAddr, reach)
			}
		}
	}
	return w.Flush()
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
