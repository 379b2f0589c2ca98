package clustertest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/testkit"
)

// WaitForEvents polls a cluster's audit log through admin until want
// holds for the events req selects, and returns them (testkit.Eventually:
// the deadline only keeps a broken test from hanging).
func WaitForEvents(t testing.TB, admin api.ClusterClient, req *api.SearchAuditRequest, want func([]audit.Event) bool) []audit.Event {
	t.Helper()
	var evs []audit.Event
	testkit.Eventually(t, "the expected audit events", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := admin.SearchAudit(ctx, req)
		cancel()
		if err != nil {
			t.Fatalf("SearchAudit: %v", err)
		}
		evs = nil
		for _, data := range res.GetEventsJson() {
			var ev audit.Event
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		return want(evs)
	})
	return evs
}
