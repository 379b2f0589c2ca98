package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vnetproject/vnet/core/api"
)

// ctlTokens makes and lists join tokens.
func ctlTokens(ctx context.Context, c *ctlClient, args []string) error {
	name, args, err := subcommand("ctl tokens", args, []string{"add", "ls"})
	if err != nil {
		return err
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	switch name {
	case "add":
		fs := newFlags("ctl tokens add")
		typ := fs.String("type", "", "what the token joins: app (an App Service agent) or trusted_cluster (a leaf cluster)")
		ttl := fs.Duration("ttl", 30*time.Minute, "how long the token can be used")
		apps := fs.String("apps", "", "type app: the agents may serve only apps whose names match one of these comma-separated globs (db-*,web)")
		labels := fs.String("labels", "", "type app: the agents may serve only apps with all these labels (env=dev,team=db)")
		zones := fs.String("zones", "", "trusted_cluster: DNS zones the joining leaf may claim besides its proxy's host (comma-separated)")
		rng := fs.String("range", "", "trusted_cluster: the IPv4 range the joining leaf may use (else its apps take this cluster's range)")
		if err := noArgs(fs, args); err != nil {
			return err
		}
		if *typ == "" {
			return usagef("ctl tokens add", "--type is required: app or trusted_cluster")
		}
		if *ttl <= 0 {
			return usagef("ctl tokens add", "--ttl %v: must be positive", *ttl)
		}
		req := &api.AddTokenRequest{Type: *typ, TtlSeconds: int64(ttl.Seconds()), Apps: splitList(*apps), LeafZones: splitList(*zones), LeafIpv4CidrRange: *rng}
		if req.Labels, err = parseLabels(*labels); err != nil {
			return err
		}
		res, err := c.api.AddToken(ctx, req)
		if err != nil {
			return err
		}
		st, err := c.api.Status(ctx, &api.StatusRequest{})
		if err != nil {
			return err
		}
		expires := timeText(time.Unix(res.GetExpiresUnix(), 0))
		fmt.Fprintf(stdout, "The %s join token below can be used until %s.\n\n  %s\n\n", *typ, expires, res.GetToken())
		if len(req.Apps) > 0 || len(req.Labels) > 0 {
			fmt.Fprintf(stdout, "Agents that join with it may serve only apps %s.\n\n", formatTokenLimits(req.GetApps(), req.GetLabels()))
		}
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
	default:
		fs := newFlags("ctl tokens ls")
		format := fs.String("format", "text", "text (a table) or json")
		if err := noArgs(fs, args); err != nil {
			return err
		}
		if err := checkFormat("ctl tokens ls", *format, "text", "json"); err != nil {
			return err
		}
		res, err := c.api.ListTokens(ctx, &api.ListTokensRequest{})
		if err != nil {
			return err
		}
		if *format == "json" {
			out := []tokenJSON{}
			for _, t := range res.GetTokens() {
				out = append(out, tokenJSON{ID: t.GetId(), Type: t.GetType(), Expires: time.Unix(t.GetExpiresUnix(), 0).UTC(), Apps: t.GetApps(), Labels: t.GetLabels()})
			}
			return writeJSON(out)
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tTYPE\tEXPIRES\tLIMITS")
		for _, t := range res.GetTokens() {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.GetId(), t.GetType(), timeText(time.Unix(t.GetExpiresUnix(), 0)), orDash(formatTokenLimits(t.GetApps(), t.GetLabels())))
		}
		return w.Flush()
	}
}

// tokenJSON is one token in `vnet ctl tokens ls --format json`; the
// field names are documented in docs/cli.md.
type tokenJSON struct {
	ID      string            `json:"id"`
	Type    string            `json:"type"`
	Expires time.Time         `json:"expires"`
	Apps    []string          `json:"apps,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// splitList reads a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseLabels reads k=v,k2=v2.
func parseLabels(s string) (map[string]string, error) {
	var out map[string]string
	for _, p := range splitList(s) {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("--labels: %q is not key=value", p)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, nil
}

// formatTokenLimits is "named db-*,web labelled env=dev", or "".
func formatTokenLimits(apps []string, labels map[string]string) string {
	var parts []string
	if len(apps) > 0 {
		parts = append(parts, "named "+strings.Join(apps, ","))
	}
	if len(labels) > 0 {
		parts = append(parts, "labelled "+formatLabels(labels))
	}
	return strings.Join(parts, " and ")
}
