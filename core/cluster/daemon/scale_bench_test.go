package daemon_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/daemon"
)

// BenchmarkRestart: a cluster whose cluster.yaml holds 100,000 apps
// (VNET_BENCH_APPS to change it) started once on an empty data dir, then
// again over what it stored: the restart is what is timed (issue 13).
func BenchmarkRestart(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("VNET_BENCH_APPS")); err == nil {
		n = v
	}
	list := make([]clustertest.App, n)
	for i := range list {
		list[i] = clustertest.App{Name: fmt.Sprintf("app%06d", i), URI: "tcp://127.0.0.1:1", Labels: map[string]string{"env": "dev"}}
	}
	cfg := clustertest.Config(b, "root.test", "proxy.root.test", list...)
	ctx := context.Background()
	start := func() time.Duration {
		t0 := time.Now()
		if err := cfg.CheckAndSetDefaults(); err != nil {
			b.Fatal(err)
		}
		d, err := daemon.Start(ctx, cfg, clustertest.Logger())
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		d.Close()
		return took
	}
	b.Logf("first start with %d apps: %v", n, start().Round(time.Millisecond))
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		total += start()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/restart")
}
