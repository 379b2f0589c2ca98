package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vnetproject/vnet/core/api"
)

const agentsUsage = "vnet ctl agents ls | agents rm ID"

// ctlAgents lists and removes App Service agents.
func ctlAgents(ctx context.Context, c *ctlClient, args []string) error {
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	switch {
	case len(args) == 1 && (args[0] == "ls" || args[0] == "list"):
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
				time.Unix(a.GetJoinedUnix(), 0).Local().Format(time.DateTime), connected,
				orDash(strings.Join(a.GetApps(), ",")), orDash(formatTokenLimits(a.GetAllowedApps(), a.GetAllowedLabels())))
		}
		return w.Flush()
	case len(args) == 2 && (args[0] == "rm" || args[0] == "remove"):
		res, err := c.api.RemoveAgent(ctx, &api.RemoveAgentRequest{Id: args[1]})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "agent %s has been removed", args[1])
		if apps := res.GetAppsRemoved(); len(apps) > 0 {
			fmt.Fprintf(stdout, "; its apps are gone: %s", strings.Join(apps, ", "))
		}
		fmt.Fprintln(stdout)
		return nil
	default:
		return errors.New("usage: " + agentsUsage)
	}
}
