package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/vnetproject/vnet/core/control"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/vnet"
)

// runStatus shows what a running `vnet up` is doing, with each cluster's
// state checked now: a login the cluster refuses, an expired certificate
// or a proxy that does not answer is a problem with its next step, never
// "connected". Without a running VNet it says so (exit 1), and notices a
// resolver setting a crashed VNet left behind.
func runStatus(ctx context.Context, args []string) error {
	fs := newFlags("status")
	fs.String("state-dir", defaultStateDir, "the state directory of the running VNet; unset: this default, or ~/.vnet/state for an engine a 'vnet helper' serves")
	format := fs.String("format", "text", "text or json")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if err := checkFormat("status", *format, "text", "json"); err != nil {
		return err
	}
	stateDir := controlStateDir(fs) // controlsock.go
	data, err := control.Get(ctx, filepath.Join(stateDir, control.SocketName))
	if err != nil {
		return notRunning(stateDir, *format, err)
	}
	var st vnet.Status
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("status from VNet: %w", err)
	}
	views := make([]clusterView, len(st.Clusters))
	for i, c := range st.Clusters {
		views[i] = clusterView{ID: c.ID, Name: c.Name, Connected: c.Connected, Error: c.Error, Degraded: c.Degraded}
	}
	states := clusterStates(ctx, views)
	if *format == "json" {
		// VNet's own status, and the states as checked now.
		var out map[string]json.RawMessage
		if err := json.Unmarshal(data, &out); err != nil {
			return fmt.Errorf("status from VNet: %w", err)
		}
		out["cluster_states"], _ = json.Marshal(states)
		return writeJSON(out)
	}
	printStatus(st, states)
	return nil
}

// notRunning reports that no VNet answers at stateDir.
func notRunning(stateDir, format string, err error) error {
	why := "VNet is not running: start it with 'sudo vnet up'"
	if pid := runningPID(stateDir); pid > 0 {
		why = fmt.Sprintf("VNet (pid %d) does not answer (%s): it may be starting; see its log", pid, oneLine(err))
	}
	var problems []string
	if p := staleResolver(); p != "" {
		problems = append(problems, p)
	}
	if format == "json" {
		if err := writeJSON(map[string]any{"running": false, "problems": append(problems, why)}); err != nil {
			return err
		}
	} else {
		for _, p := range problems {
			fmt.Fprintln(stdout, "problem:", p)
		}
	}
	return errors.New(why)
}

// clusterState is one login's state as `vnet status` shows it; the field
// names of its JSON are documented in docs/cli.md.
type clusterState struct {
	ID     string `json:"id"`   // the login's proxy address
	Name   string `json:"name"` // the name the cluster reports
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"` // why it is not "connected"
	Next   string `json:"next,omitempty"`   // what to do about it
}

// Cluster states.
const (
	stateConnected    = "connected"
	stateExpired      = "certificate expired"
	stateRefused      = "login refused"
	stateUnreachable  = "unreachable"
	stateDisconnected = "disconnected"
	stateDegraded     = "degraded"
)

// clusterView is what the running VNet says of a cluster it follows.
type clusterView struct {
	ID, Name  string
	Connected bool
	Error     string
	Degraded  string // the cluster's store cannot answer: why
}

// clusterStates checks each cluster now: the login's certificate here,
// and a question to the cluster with it (as `vnet apps` asks).
func clusterStates(ctx context.Context, clusters []clusterView) []clusterState {
	logins := map[string]*profile.Profile{}
	down := map[string]string{}
	if ps, err := profile.LoadAll(profile.Home()); err == nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		// Each login on its own: one that cannot be used at all (an
		// expired certificate) does not hide the others' answers.
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, p := range ps {
			logins[p.ID()] = p
			wg.Go(func() {
				offers, err := vnet.FetchOffers(ctx, []*profile.Profile{p})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					down[p.ID()] = oneLine(err)
				case len(offers.Down) > 0:
					down[p.ID()] = offers.Down[0].Error
				}
			})
		}
		wg.Wait()
	}
	out := make([]clusterState, 0, len(clusters))
	for _, c := range clusters {
		out = append(out, stateOf(c, logins[c.ID], down[c.ID], time.Now()))
	}
	return out
}

// stateOf decides a cluster's state from VNet's view of it (c), the login
// (p, nil if this user has none) and what the cluster said when asked now
// (askErr, "" if it answered).
func stateOf(c clusterView, p *profile.Profile, askErr string, now time.Time) clusterState {
	s := clusterState{ID: c.ID, Name: c.Name, State: stateConnected}
	login := "vnet login --proxy=" + c.ID
	if p != nil {
		login += " --user=" + p.User
		if exp, err := p.Expires(); err == nil && !now.Before(exp) {
			s.State, s.Reason, s.Next = stateExpired, "certificate expired at "+timeText(exp), login
			return s
		}
	}
	switch {
	case askErr != "" && connLine(askErr) != askErr, strings.Contains(askErr, "deadline exceeded"):
		s.State, s.Reason = stateUnreachable, connLine(askErr)
		s.Next = "VNet retries with back-off; check the proxy address and your network ('vnet diag' says more)"
	case askErr != "":
		s.State, s.Reason = stateRefused, askErr
		s.Next = "ask your administrator (was your user removed?), then " + login
	case !c.Connected:
		s.State, s.Reason = stateDisconnected, oneLine(errors.New(c.Error))
		s.Next = "VNet retries with back-off ('vnet diag' says more)"
	case c.Degraded != "":
		s.State, s.Reason = stateDegraded, c.Degraded
		s.Next = "the apps known before keep working; new apps and changes wait for the cluster's store (ask its administrator: 'vnet ctl status')"
	}
	return s
}

// maxPrintedApps bounds the apps vnet up and vnet status list: a catalog
// of 100,000 apps is not for the terminal (issue 13).
const maxPrintedApps = 50

// allAppsHint says where the whole list is.
const allAppsHint = "'vnet status --format json' lists them all"

func printStatus(st vnet.Status, states []clusterState) {
	s := st.Settings
	if st.Running {
		fmt.Fprintf(stdout, "VNet is running since %s.\n", timeText(st.Since))
	} else {
		fmt.Fprintln(stdout, "VNet is starting: it serves nothing until a cluster answers.")
	}
	fmt.Fprintf(stdout, "Device:  %s %s\nDNS:     %s\nDomains: %s\nRoutes:  %s\n\n",
		s.TunAddr4, optional(s.TunAddr6.String(), s.TunAddr6.IsValid()), joinStrings(s.DNSAddrs), strings.Join(s.DNSZones, ", "), joinStrings(s.Routes))
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	// Clusters are who they are by their proxy address, not by the name
	// they report: two may report the same one.
	fmt.Fprintln(w, "CLUSTER\tSTATE\tLAST UPDATE\tPROXY")
	for i, c := range st.Clusters {
		state := states[i].State
		if state == stateConnected {
			state = fmt.Sprintf("%s (%d apps)", state, c.Apps)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.Name, state, timeText(c.Updated), c.ID)
		for _, l := range c.Leaves {
			fmt.Fprintf(w, "%s\t(leaf)\t\t%s/%s\n", l, c.ID, l)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "APP\tNAME\tIPV4\tIPV6\tCLUSTER\tAT")
	for i, a := range st.Apps {
		if i == maxPrintedApps {
			fmt.Fprintf(w, "... and %d more apps: %s.\n", len(st.Apps)-i, allAppsHint)
			break
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, optional(a.PublicAddr, a.PublicAddr != ""), optional(a.IPv4.String(), a.IPv4.IsValid()), optional(a.IPv6.String(), a.IPv6.IsValid()), a.Cluster, a.ClusterID)
	}
	w.Flush()
	for _, cs := range states {
		if cs.State != stateConnected {
			why := cs.Reason
			if !strings.HasPrefix(why, cs.State) {
				why = cs.State + ": " + why
			}
			fmt.Fprintf(stdout, "problem: cluster %s (%s): %s; next: %s\n", cs.Name, cs.ID, why, cs.Next)
		}
	}
	unreachable := 0
	for _, a := range st.Apps {
		if a.Unreachable == "" {
			continue
		}
		if unreachable++; unreachable <= maxPrintedApps {
			fmt.Fprintf(stdout, "unreachable: app %s of cluster %s (%s): %s\n", a.Name, a.Cluster, a.ClusterID, a.Unreachable)
		}
	}
	if unreachable > maxPrintedApps {
		fmt.Fprintf(stdout, "... and %d more unreachable apps: %s.\n", unreachable-maxPrintedApps, allAppsHint)
	}
	for _, r := range st.Refused {
		fmt.Fprintln(stdout, "refused:", r)
	}
	for _, p := range st.Problems {
		fmt.Fprintln(stdout, "problem:", p)
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
