package proxy_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
)

// BenchmarkIdleWatchers: the proxy's CPU with 1,000 catalog watchers open
// (deltas) on a 100,000-app catalog and nothing changing, over 10 s per
// iteration, reported as cpu%/core (the whole test process: proxy and
// watchers, who both should be asleep). Each watcher's user reaches ten
// of the apps; the catalog proxies used to list every app for every
// watcher twice a second (issue 13).
func BenchmarkIdleWatchers(b *testing.B) {
	const watchers, idle = 1000, 10 * time.Second
	apps := 100000
	if n, err := strconv.Atoi(os.Getenv("VNET_BENCH_APPS")); err == nil {
		apps = n // smaller, to try the benchmark out
	}
	list := make([]clustertest.App, apps)
	for i := range list {
		team := "bulk"
		if i < 10 {
			team = "bench"
		}
		list[i] = clustertest.App{Name: fmt.Sprintf("app%06d", i), URI: "tcp://127.0.0.1:1", Labels: map[string]string{"team": team}}
	}
	start := time.Now()
	c := clustertest.Start(b, "root.test", "proxy.root.test", list...)
	b.Logf("cluster with %d apps started in %v", apps, time.Since(start).Round(time.Millisecond))
	clustertest.CreateResource(b, c.Admin(b), "kind: role\nversion: v1\nmetadata: {name: bench}\nspec:\n  allow:\n    app_labels: {team: bench}\n")
	user := c.AddUser(b, "bench", "bench")
	conn, err := user.Dial()
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := api.NewClusterClient(conn)
	start = time.Now()
	for range watchers {
		st, err := cl.WatchCatalog(ctx, &api.WatchCatalogRequest{Deltas: true})
		if err != nil {
			b.Fatal(err)
		}
		// The role may reach the proxy's cache just after the watch
		// starts: its apps then come as a delta.
		for got := 0; got < 10; {
			u, err := st.Recv()
			if err != nil {
				b.Fatal(err)
			}
			got += len(u.GetApps().GetApps())
		}
		go func() {
			for {
				if _, err := st.Recv(); err != nil {
					return
				}
			}
		}()
	}
	b.Logf("%d watchers open in %v", watchers, time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	var cpu time.Duration
	for range b.N {
		before := rusage(b)
		time.Sleep(idle)
		cpu += rusage(b) - before
	}
	b.StopTimer()
	b.ReportMetric(100*cpu.Seconds()/(float64(b.N)*idle.Seconds()), "cpu%/core")
}

// rusage is the CPU time the process used so far.
func rusage(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
