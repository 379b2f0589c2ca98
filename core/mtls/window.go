package mtls

// HTTP/2 flow-control windows of the connection to a cluster, for what it
// receives: app data coming down tunnelled connections.
//
// gRPC gives a stream's window back only as the stream is read, so a
// tunnelled connection whose reader is slower than the proxy (the laptop's
// netstack writing to a local program) queues a whole window in gRPC's
// buffers. With gRPC's BDP estimation (what gRPC does without fixed
// windows) each window grew to 16 MiB on a fast path: under iperf3 -P 8
// (download) vnet up held 40-120 MiB of gRPC receive buffers, and the time
// a slow reader takes to see a broken tunnel grew with it. A fixed stream
// window bounds both; 1 MiB moved iperf3 through VNet as fast as BDP's
// windows on this machine (docs/benchmarks.md, "Memory (issue 12)") and
// keeps 1 MiB per round trip per connection: 80 Mbit/s at a 100 ms round
// trip for one connection, more with several. The connection's window is
// only what the proxy may have in flight on the wire for all streams
// together (gRPC gives it back on arrival, not on read), so it is large.
const (
	streamWindow = 1 << 20
	connWindow   = 16 << 20
)
