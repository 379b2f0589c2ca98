package main

import (
	"net"
	"strconv"
	"strings"
)

// enginePprofEnv is env for the engine `sudo vnet up` starts: the root
// helper already serves VNET_PPROF_ADDR in the same network namespace, so
// the engine serves its profiles at the next port (6060: helper, 6061:
// engine). Without it the engine could not listen and would stop.
func enginePprofEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, pprofEnv+"="); ok && v != "" {
			kv = pprofEnv + "=" + nextPort(v)
		}
		out = append(out, kv)
	}
	return out
}

// nextPort is host:port+1, or addr unchanged when it has no numeric port
// (startPprof then refuses it, as it would have).
func nextPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p >= 65535 {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1))
}
