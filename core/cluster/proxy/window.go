package proxy

// HTTP/2 flow-control windows of the proxy's connections, for what it
// receives: app data going up tunnelled connections (and agents' and
// peers' streams).
//
// They are fixed rather than sized by gRPC's BDP estimation because the
// estimator costs a round trip per request: while no estimate is in
// flight, every data frame the proxy receives makes it send a PING, which
// the laptop answers, so a small request (a database query, a cache GET)
// cost two more TLS records and their write and read syscalls on each
// end, about a fifth of the CPU of a round trip through VNet
// (BenchmarkSystemRoundTrip, docs/benchmarks.md "Small requests").
// The laptop's windows are fixed for memory's sake (mtls/window.go) and
// ping nothing; the same sizes here: 1 MiB per stream moved iperf3
// uploads as fast as BDP's windows on this machine, and bounds what one
// slow app queues in the proxy.
const (
	streamWindow = 1 << 20
	connWindow   = 16 << 20
)
