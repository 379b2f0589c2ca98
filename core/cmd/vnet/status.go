package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vnetproject/vnet/core/control"
	"github.com/vnetproject/vnet/core/vnet"
)

// runStatus shows what a running `vnet up` is doing.
func runStatus(ctx context.Context, args []string) error {
	fs := newFlags("status", "vnet status [--state-dir DIR] [--format text|json]")
	stateDir := fs.String("state-dir", "/var/lib/vnet/client", "the state directory of the running VNet")
	format := fs.String("format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := control.Get(ctx, filepath.Join(*stateDir, control.SocketName))
	if err != nil {
		return err
	}
	if *format == "json" {
		_, err := os.Stdout.Write(data)
		return err
	}
	if *format != "text" {
		return fmt.Errorf("--format %q: use text or json", *format)
	}
	var st vnet.Status
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("status from VNet: %w", err)
	}
	printStatus(st)
	return nil
}

func printStatus(st vnet.Status) {
	s := st.Settings
	fmt.Printf("VNet is running since %s.\n", st.Since.Local().Format(time.RFC1123))
	fmt.Printf("Device:  %s %s\nDNS:     %s\nDomains: %s\nRoutes:  %s\n\n",
		s.TunAddr4, optional(s.TunAddr6.String(), s.TunAddr6.IsValid()), joinStrings(s.DNSAddrs), strings.Join(s.DNSZones, ", "), joinStrings(s.Routes))
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	// Clusters are who they are by their proxy address, not by the name
	// they report: two may report the same one.
	fmt.Fprintln(w, "CLUSTER\tSTATE\tLAST UPDATE\tPROXY")
	for _, c := range st.Clusters {
		state := fmt.Sprintf("connected (%d apps)", c.Apps)
		if !c.Connected {
			state = "disconnected: " + c.Error
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.Name, state, c.Updated.Local().Format(time.TimeOnly), c.ID)
		for _, l := range c.Leaves {
			fmt.Fprintf(w, "%s\t(leaf)\t\t%s/%s\n", l, c.ID, l)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "APP\tNAME\tIPV4\tIPV6\tCLUSTER\tAT")
	for _, a := range st.Apps {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, optional(a.PublicAddr, a.PublicAddr != ""), optional(a.IPv4.String(), a.IPv4.IsValid()), optional(a.IPv6.String(), a.IPv6.IsValid()), a.Cluster, a.ClusterID)
	}
	w.Flush()
	for _, a := range st.Apps {
		if a.Unreachable != "" {
			fmt.Printf("unreachable: app %s of cluster %s (%s): %s\n", a.Name, a.Cluster, a.ClusterID, a.Unreachable)
		}
	}
	for _, r := range st.Refused {
		fmt.Println("refused:", r)
	}
	for _, p := range st.Problems {
		fmt.Println("problem:", p)
	}
}

func optional(s string, ok bool) string {
	if !ok {
		return "-"
	}
	return s
}

func joinStrings[T fmt.Stringer](xs []T) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.String()
	}
	return strings.Join(out, ", ")
}
