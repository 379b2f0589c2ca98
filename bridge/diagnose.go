package main

import (
	"context"
	"time"

	"github.com/vnetproject/vnet/core/diag"
	"github.com/vnetproject/vnet/core/vnet"
)

// Diagnosis is what vnet_diagnose writes: every finding of core/diag, in
// order (the bridge's own type; see status.go).
type Diagnosis struct {
	Checks []Check `json:"checks"`
}

// Check is one finding.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// diagnose runs the checks `vnet diag` runs (core/diag) on this instance:
// the engine, every login, every cluster (asked now) and the upstream
// resolvers.
func (in *instance) diagnose(ctx context.Context, now time.Time) Diagnosis {
	return diagnosis(diag.Run(ctx, diag.Env{
		Status: func() vnet.Status {
			state, _, st := in.engineSnapshot()
			if state != StateRunning {
				return vnet.Status{}
			}
			return st
		},
		Profiles: in.clusters.Profiles(),
		Clusters: diag.FetchersOf(in.clusters.Logins()),
		Upstream: in.upstream,
		Now:      now,
	}, "", 0))
}

// diagnosis copies d into the bridge's types. Checks is never null.
func diagnosis(d diag.Diagnosis) Diagnosis {
	out := Diagnosis{Checks: make([]Check, len(d.Checks))}
	for i, c := range d.Checks {
		out.Checks[i] = Check{Name: c.Name, OK: c.OK, Detail: c.Detail}
	}
	return out
}
