package clustertest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/audit"
)

// WaitForEvents polls a cluster's audit log through admin until want
// holds for the events req selects, and returns them; the 30 s deadline
// only keeps a broken test from hanging.
func WaitForEvents(t testing.TB, admin api.ClusterClient, req *api.SearchAuditRequest, want func([]audit.Event) bool) []audit.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := admin.SearchAudit(ctx, req)
		cancel()
		if err != nil {
			t.Fatalf("SearchAudit: %v", err)
		}
		var evs []audit.Event
		for _, data := range res.GetEventsJson() {
			var ev audit.Event
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		if want(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit log never showed the expected events: %+v", evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
