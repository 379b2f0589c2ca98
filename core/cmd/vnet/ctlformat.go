package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

// writeResources prints resources of kind, each given as the cluster's
// YAML, in format: yaml (as stored, "---" between), json (a list) or text
// (a table).
func writeResources(w io.Writer, kind string, yamls [][]byte, format string) error {
	switch format {
	case "yaml", "":
		_, err := w.Write(bytes.Join(yamls, []byte("---\n")))
		return err
	case "json", "text":
	default:
		return usagef("ctl get", "--format %q: use yaml, json or text", format)
	}
	rs := make([]resource.Resource, 0, len(yamls))
	for _, y := range yamls {
		r, err := resource.Parse(y)
		if err != nil {
			return fmt.Errorf("the cluster sent a resource this vnet cannot read: %w", err)
		}
		rs = append(rs, r)
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rs)
	}
	return writeTable(w, kind, rs)
}

// writeTable prints resources of one kind as a table.
func writeTable(w io.Writer, kind string, rs []resource.Resource) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")) }
	switch kind {
	case resource.KindApp:
		row("NAME", "PUBLIC ADDRESS", "URI", "LABELS", "ORIGIN")
	case resource.KindRole:
		row("NAME", "ALLOW APP_LABELS", "DENY APP_LABELS")
	case resource.KindUser:
		row("NAME", "ROLES", "PASSWORD", "CREATED")
	case resource.KindVNetConfig:
		row("IPV4 RANGE", "CUSTOM DNS ZONES")
	case resource.KindTrustedCluster:
		row("NAME", "ENABLED", "ROOT PROXY", "ROLE MAP")
	case resource.KindRemoteCluster:
		row("NAME", "STATUS", "PROXY", "JOINED", "GRANTS", "REFUSED")
	}
	for _, r := range rs {
		switch r := r.(type) {
		case *resource.App:
			row(r.Name(), orDash(r.Spec.PublicAddr), r.Spec.URI, formatLabels(r.Metadata.Labels), orDash(r.Metadata.Origin))
		case *resource.Role:
			row(r.Name(), formatSelector(r.Spec.Allow.AppLabels), formatSelector(r.Spec.Deny.AppLabels))
		case *resource.User:
			pw, created := "-", "-"
			if r.Status != nil {
				if r.Status.PasswordSet {
					pw = "set"
				} else {
					pw = "not set"
				}
				created = timeText(r.Status.Created)
			}
			row(r.Name(), orDash(strings.Join(r.Spec.Roles, ",")), pw, created)
		case *resource.VNetConfig:
			var zones []string
			for _, z := range r.Spec.CustomDNSZones {
				zones = append(zones, z.Suffix)
			}
			row(r.Spec.IPv4CIDRRange, orDash(strings.Join(zones, ",")))
		case *resource.TrustedCluster:
			var maps []string
			for _, m := range r.Spec.RoleMap {
				maps = append(maps, m.Remote+"->"+strings.Join(m.Local, "|"))
			}
			row(r.Name(), fmt.Sprint(r.IsEnabled()), r.Spec.WebProxyAddr, orDash(strings.Join(maps, ",")))
		case *resource.RemoteCluster:
			state, proxy, joined := "offline", "-", "-"
			if st := r.Status; st != nil {
				if st.Connected {
					state = "online"
				}
				proxy, joined = orDash(st.ProxyPublicAddr), timeText(st.Joined)
			}
			grants := strings.Join(r.Spec.Grants.Zones, ",")
			if rng := r.Spec.Grants.IPv4CIDRRange; rng != "" {
				grants = strings.TrimPrefix(grants+","+rng, ",")
			}
			refused := 0
			if r.Status != nil {
				refused = len(r.Status.Refused)
			}
			row(r.Name(), state, proxy, joined, orDash(grants), fmt.Sprint(refused))
		}
	}
	return tw.Flush()
}

// formatLabels prints labels as env=dev,team=db.
func formatLabels(labels map[string]string) string {
	var parts []string
	for k, v := range labels {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return orDash(strings.Join(parts, ","))
}

// formatSelector prints a selector as env=dev|staging,team=*; the
// selector of every app as *.
func formatSelector(s resource.LabelSelector) string {
	var parts []string
	for k, vals := range s {
		if k == resource.Wildcard {
			parts = append(parts, resource.Wildcard)
			continue
		}
		parts = append(parts, k+"="+strings.Join(vals, "|"))
	}
	slices.Sort(parts)
	return orDash(strings.Join(parts, ","))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
