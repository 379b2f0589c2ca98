package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"

	"github.com/vnetproject/vnet/core/metrics"
)

// pprofEnv names a loopback host:port at which any vnet command (vnet up,
// vnet cluster start, vnet agent start) serves Go's profiles under
// /debug/pprof/ while it runs: a debugging aid for measuring the data path
// (docs/benchmarks.md), off when unset. Loopback only, as the metrics:
// profiles and goroutine dumps show names and addresses.
const pprofEnv = "VNET_PPROF_ADDR"

// startPprof serves the profiles when pprofEnv is set; the listener lives
// as long as the process.
func startPprof() error {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return nil
	}
	if err := metrics.CheckLoopback(addr); err != nil {
		return fmt.Errorf("%s: %w", pprofEnv, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", pprofEnv, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go http.Serve(ln, mux) //nolint:errcheck // ends with the process
	return nil
}
