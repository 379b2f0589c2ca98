package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/audit"
)

// ctlAudit reads the cluster's audit log.
func ctlAudit(ctx context.Context, c *ctlClient, args []string) error {
	fs := newFlags("ctl audit")
	since := fs.String("since", "24h", "events after this: a duration back from now (1h, 30m) or a time (RFC 3339)")
	until := fs.String("until", "", "events before this: a duration back from now or a time (RFC 3339)")
	user := fs.String("user", "", "only this user's events")
	app := fs.String("app", "", "only this app's events")
	limit := fs.Int("limit", 0, "at most this many events, the newest (default: the cluster's limit, 1000)")
	format := fs.String("format", "text", "text (a table) or json (one event per line)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if err := checkFormat("ctl audit", *format, "text", "json"); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("ctl audit", "--limit %d: must not be negative", *limit)
	}
	now := time.Now()
	req := &api.SearchAuditRequest{User: *user, App: *app, Limit: int32(*limit)}
	var err error
	if req.SinceUnixNano, err = parseWhen("--since", *since, now); err != nil {
		return err
	}
	if req.UntilUnixNano, err = parseWhen("--until", *until, now); err != nil {
		return err
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	res, err := c.api.SearchAudit(ctx, req)
	if err != nil {
		return err
	}
	evs := make([]audit.Event, 0, len(res.GetEventsJson()))
	for _, data := range res.GetEventsJson() {
		var ev audit.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("the cluster sent an audit event this vnet cannot read: %w", err)
		}
		evs = append(evs, ev)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		return nil
	}
	return writeAuditTable(stdout, evs)
}

// parseWhen reads a duration back from now or an RFC 3339 time; "" is 0
// (no bound).
func parseWhen(flag, s string, now time.Time) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("%s %s: use a positive duration (how long ago)", flag, s)
		}
		return now.Add(-d).UnixNano(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: use a duration such as 1h or a time such as 2025-01-02T15:04:05Z", flag, s)
	}
	return t.UnixNano(), nil
}

// writeAuditTable prints evs as a table. CLIENT is the address the proxy
// saw; CLIENT REPORTED, the client's own word, comes last so that the
// columns before it stay where scripts expect them.
func writeAuditTable(w io.Writer, evs []audit.Event) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tUSER\tAPP\tCLIENT\tTARGET\tBYTES IN\tBYTES OUT\tDURATION\tERROR\tCLIENT REPORTED")
	for _, ev := range evs {
		in, out, dur := "-", "-", "-"
		if ev.Type == audit.SessionEnd {
			in, out = strconv.FormatInt(ev.BytesIn, 10), strconv.FormatInt(ev.BytesOut, 10)
			dur = ev.Duration.Round(time.Millisecond).String()
		}
		user := ev.User
		if ev.Type == audit.Dropped {
			user = fmt.Sprintf("(%d events lost)", ev.Count)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			timeText(ev.Time), ev.Type, orDash(user), orDash(ev.App),
			orDash(ev.ClientAddr), orDash(ev.Target), in, out, dur, orDash(ev.Error), orDash(ev.ClientReportedAddr))
	}
	return tw.Flush()
}
