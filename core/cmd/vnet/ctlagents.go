package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vnetproject/vnet/core/api"
)

// ctlAgents lists and removes App Service agents.
func ctlAgents(ctx context.Context, c *ctlClient, args []string) error {
	name, args, err := subcommand("ctl agents", args, []string{"ls", "rm"})
	if err != nil {
		return err
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	switch name {
	case "ls":
		if err := noArgs(newFlags("ctl agents ls"), args); err != nil {
			return err
		}
		res, err := c.api.ListAgents(ctx, &api.ListAgentsRequest{})
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tHOST\tJOINED\tCONNECTED\tAPPS\tLIMITS")
		for _, a := range res.GetAgents() {
			connected := "no"
			if a.GetConnected() {
				connected = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", a.GetId(), orDash(a.GetHostName()),
				timeText(time.Unix(a.GetJoinedUnix(), 0)), connected,
				orDash(strings.Join(a.GetApps(), ",")), orDash(formatTokenLimits(a.GetAllowedApps(), a.GetAllowedLabels())))
		}
		return w.Flush()
	default:
		pos, err := parseArgs(newFlags("ctl agents rm"), args, 1, 1)
		if err != nil {
			return err
		}
		res, err := c.api.RemoveAgent(ctx, &api.RemoveAgentRequest{Id: pos[0]})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "agent %s has been removed", pos[0])
		if apps := res.GetAppsRemoved(); len(apps) > 0 {
			fmt.Fprintf(stdout, "; its apps are gone: %s", strings.Join(apps, ", "))
		}
		fmt.Fprintln(stdout)
		return nil
	}
}
