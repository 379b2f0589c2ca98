package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/vnet"
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
	// In login order, as `vnet up` sees them: the first owner wins.
	offers, err := vnet.FetchOffers(ctx, profiles)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tAPP\tADDRESS\tREACHABLE BY NAME")
	for _, d := range offers.Down {
		fmt.Fprintf(w, "%s\t(unreachable at %s: %s)\t\t\n", d.Cluster, d.ID, d.Error)
	}
	for _, a := range offers.Apps {
		reach := "yes"
		if a.Unreachable != "" {
			reach = "no: " + a.Unreachable
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", a.Cluster, a.Name, optional(a.Addr, a.Addr != ""), reach)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, r := range offers.Refused {
		fmt.Println("refused:", r)
	}
	return nil
}
