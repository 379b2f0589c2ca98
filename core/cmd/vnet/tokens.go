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

const tokensUsage = "vnet ctl tokens add --type=app|trusted_cluster [--ttl=30m] [--zones=a.test,b.test --range=CIDR] | tokens ls"

// ctlTokens makes and lists join tokens.
func ctlTokens(ctx context.Context, c *ctlClient, args []string) error {
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	if len(args) == 0 {
		return fmt.Errorf("usage: %s", tokensUsage)
	}
	switch args[0] {
	case "add":
		fs := newFlags("ctl tokens add", "vnet ctl tokens add --type=app|trusted_cluster [--ttl=30m] [--zones=a.test,b.test --range=CIDR]")
		typ := fs.String("type", "", "what the token joins: app (an App Service agent) or trusted_cluster (a leaf cluster)")
		ttl := fs.Duration("ttl", 30*time.Minute, "how long the token can be used")
		zones := fs.String("zones", "", "trusted_cluster: DNS zones the joining leaf may claim besides its proxy's host (comma-separated)")
		rng := fs.String("range", "", "trusted_cluster: the IPv4 range the joining leaf may use (else its apps take this cluster's range)")
		pos, err := parseInterspersed(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 0 || *typ == "" {
			return errors.New("usage: vnet ctl tokens add --type=app|trusted_cluster [--ttl=30m]")
		}
		if *ttl <= 0 {
			return fmt.Errorf("--ttl %v: must be positive", *ttl)
		}
		req := &api.AddTokenRequest{Type: *typ, TtlSeconds: int64(ttl.Seconds()), LeafIpv4CidrRange: *rng}
		if *zones != "" {
			req.LeafZones = strings.Split(*zones, ",")
		}
		res, err := c.api.AddToken(ctx, req)
		if err != nil {
			return err
		}
		st, err := c.api.Status(ctx, &api.StatusRequest{})
		if err != nil {
			return err
		}
		expires := time.Unix(res.GetExpiresUnix(), 0).UTC().Format(time.RFC3339)
		fmt.Fprintf(stdout, "The %s join token below can be used until %s.\n\n  %s\n\n", *typ, expires, res.GetToken())
		if *typ == "app" {
			fmt.Fprintf(stdout, "Put it in the agent's agent.yaml with the cluster's CA pin:\n\n  join_token: %s\n  ca_pin: %s\n", res.GetToken(), st.GetCaPin())
		} else {
			fmt.Fprintf(stdout, "Create a trusted_cluster with it on the leaf cluster ('vnet ctl create' there):\n\n"+
				"  kind: trusted_cluster\n  version: v1\n  metadata:\n    name: %s\n  spec:\n    enabled: true\n    token: %s\n"+
				"    web_proxy_addr: PROXY_HOST:PORT   # this cluster's proxy public address\n    ca_pin: %s\n"+
				"    role_map:\n      - remote: dev        # a role here ('*': any)\n        local: [access]    # roles on the leaf\n",
				st.GetClusterName(), res.GetToken(), st.GetCaPin())
		}
		return nil
	case "ls":
		if len(args) != 1 {
			return errors.New("usage: vnet ctl tokens ls")
		}
		res, err := c.api.ListTokens(ctx, &api.ListTokensRequest{})
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tTYPE\tEXPIRES")
		for _, t := range res.GetTokens() {
			fmt.Fprintf(w, "%s\t%s\t%s\n", t.GetId(), t.GetType(), time.Unix(t.GetExpiresUnix(), 0).UTC().Format(time.RFC3339))
		}
		return w.Flush()
	default:
		return fmt.Errorf("unknown tokens command %q; usage: %s", args[0], tokensUsage)
	}
}
