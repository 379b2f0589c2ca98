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
// (BenchmarkSystemRoundTrip; docs/benchmarks.md, "Throughput, third pass").
// The laptop's windows are fixed for memory's sake (mtls/window.go) and
// ping nothing. Here 4 MiB per stream: iperf3 uploads through VNet moved
// 3.3-4.1 Gbit/s with it, against 2.6-3.5 with 1 MiB and 2.5-3.6 with
// BDP's windows, which grew to 16 MiB (docs/benchmarks.md); it bounds
// what one slow app queues in the proxy to a quarter of that. The
// connection's window lets sixteen streams have theirs in flight.
const (
	streamWindow = 4 << 20
	connWindow   = 64 << 20
)
