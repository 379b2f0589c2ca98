package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/vnetproject/vnet/core/vnet"
)

// TestStatusListsAtMost50Apps: `vnet status` lists at most 50 apps (and
// 50 unreachable ones), then how many more and where the whole list is:
// at 100,000 apps it printed 100,000 lines (issue 13).
func TestStatusListsAtMost50Apps(t *testing.T) {
	for _, n := range []int{3, maxPrintedApps, 120} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var st vnet.Status
			for i := range n {
				st.Apps = append(st.Apps, vnet.AppStatus{Name: fmt.Sprintf("app%03d", i), Cluster: "c", ClusterID: "p:1", Unreachable: "no range"})
			}
			var buf bytes.Buffer
			old := stdout
			stdout = &buf
			defer func() { stdout = old }()
			printStatus(st, nil)
			out := buf.String()
			shown := min(n, maxPrintedApps)
			if got := strings.Count(out, "\napp"); got != shown {
				t.Errorf("%d app lines, want %d", got, shown)
			}
			if got := strings.Count(out, "unreachable: app"); got != shown {
				t.Errorf("%d unreachable lines, want %d", got, shown)
			}
			more := fmt.Sprintf("... and %d more apps: 'vnet status --format json' lists them all.", n-shown)
			if (n > shown) != strings.Contains(out, more) {
				t.Errorf("output:\n%s\nwant %q: %t", out, more, n > shown)
			}
		})
	}
}
