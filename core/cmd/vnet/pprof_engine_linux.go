package main

import (
	"net"
	"os"
	"strconv"
	"strings"
)

// enginePprofEnv moves pprofEnv one port up in env, the environment of the
// engine that `vnet up` starts as the user: the root helper already serves
// its own profiles at the address given, and the engine, which inherits the
// environment, would otherwise fail to start on the taken port. The engine
// (the netstack, DNS, the tunnel) is the process worth profiling.
func enginePprofEnv(env []string) []string {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return env
	}
	host, port, err := net.SplitHostPort(addr)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil || p <= 0 || p >= 65535 {
		return env // startPprof in the engine reports the bad address
	}
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, pprofEnv+"=") {
			out = append(out, kv)
		}
	}
	return append(out, pprofEnv+"="+net.JoinHostPort(host, strconv.Itoa(p+1)))
}
