package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/vnet"
)

// runApps lists the TCP apps of every cluster the user is logged in to,
// each at its effective address (public_addr, or <name>.<proxy host>), and
// why an app cannot be reached by name, by the same rules as `vnet up`.
func runApps(ctx context.Context, args []string) error {
	fs := newFlags("apps")
	format := fs.String("format", "text", "text or json")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if err := checkFormat("apps", *format, "text", "json"); err != nil {
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
	if *format == "json" {
		err = writeJSON(appsJSONOf(offers))
	} else {
		err = writeAppsTable(offers)
	}
	if err != nil {
		return err
	}
	// Each cluster that did not answer on a line of its own, and a
	// failure: the list above lacks its apps.
	for _, d := range offers.Down {
		fmt.Fprintf(stderr, "cluster %s (%s) could not be asked: %s\n", d.Cluster, d.ID, d.Error)
	}
	switch n := len(offers.Down); {
	case n == 1:
		return errors.New("1 cluster could not be asked: its apps are not listed")
	case n > 1:
		return fmt.Errorf("%d clusters could not be asked: their apps are not listed", n)
	}
	return nil
}

func writeAppsTable(offers vnet.Offers) error {
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tAPP\tADDRESS\tREACHABLE BY NAME")
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
		fmt.Fprintln(stdout, "refused:", r)
	}
	return nil
}

// appsJSON is `vnet apps --format json`; the field names are documented
// in docs/cli.md.
type appsJSON struct {
	Apps []appJSON `json:"apps"`
	// Down are the clusters that could not be asked.
	Down    []downJSON `json:"down"`
	Refused []string   `json:"refused"`
}

type appJSON struct {
	Cluster     string `json:"cluster"`
	Name        string `json:"name"`
	Address     string `json:"address"`
	Reachable   bool   `json:"reachable"`
	Unreachable string `json:"unreachable,omitempty"` // why not, when not
}

type downJSON struct {
	Cluster string `json:"cluster"`
	Proxy   string `json:"proxy"`
	Error   string `json:"error"`
}

func appsJSONOf(o vnet.Offers) appsJSON {
	out := appsJSON{Apps: []appJSON{}, Down: []downJSON{}, Refused: []string{}}
	for _, a := range o.Apps {
		out.Apps = append(out.Apps, appJSON{Cluster: a.Cluster, Name: a.Name, Address: a.Addr, Reachable: a.Unreachable == "", Unreachable: a.Unreachable})
	}
	for _, d := range o.Down {
		out.Down = append(out.Down, downJSON{Cluster: d.Cluster, Proxy: d.ID, Error: d.Error})
	}
	for _, r := range o.Refused {
		out.Refused = append(out.Refused, r.String())
	}
	return out
}
