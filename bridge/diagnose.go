package main

import (
	"context"
	"time"

	"github.com/vnetproject/vnet/core/diag"
	"github.com/vnetproject/vnet/core/vnet"
)

// diagnose runs the checks `vnet diag` runs (core/diag) on this instance:
// the engine, every login, every cluster (asked now) and the upstream
// resolvers. It takes up to diag.Timeout, less if ctx ends first.
func (in *instance) diagnose(ctx context.Context, now time.Time) diag.Diagnosis {
	env := diag.Of(in.runner, now)
	// VNet runs for the Network Extension once its settings are in force.
	env.Status = func() vnet.Status {
		st := in.status()
		if st.State != StateRunning {
			return vnet.Status{}
		}
		return st.Engine
	}
	return diag.Run(ctx, env, "", 0)
}

// diagnosisText is vnet_diagnose's JSON for a buffer with room for room
// bytes of text. A report that did not fit is kept, so the retry returns
// it instead of contacting every cluster again; stop cuts a diagnosis
// short (its checks then fail with "context canceled").
func (in *instance) diagnosisText(room uint64, now time.Time) []byte {
	return in.diagnosisOut.text(room, func() []byte { return marshal(diagnosisJSON(in.diagnose(in.ctx, now))) })
}
