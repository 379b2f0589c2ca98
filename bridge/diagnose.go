package main

import (
	"context"
	"time"

	"github.com/vnetproject/vnet/core/diag"
	"github.com/vnetproject/vnet/core/vnet"
)

// diagnose runs the checks `vnet diag` runs (core/diag) on this instance:
// the engine, every login, every cluster (asked now) and the upstream
// resolvers.
func (in *instance) diagnose(ctx context.Context, now time.Time) diag.Diagnosis {
	return diag.Run(ctx, diag.Env{
		Status: func() vnet.Status {
			st := in.status()
			if st.State != StateRunning {
				return vnet.Status{}
			}
			return st.Engine
		},
		Profiles: in.clusters.Profiles(),
		Clusters: diag.FetchersOf(in.clusters.Logins()),
		Upstream: in.upstream,
		Now:      now,
	}, "", 0)
}
