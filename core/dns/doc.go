// Package dns answers VNet's DNS queries and forwards the rest upstream.
//
// The server knows neither gVisor nor clusters: it serves UDP datagrams
// handed to it one at a time (Datagrams: the netstack's packet path in
// production), a net.PacketConn (ServeUDP: loopback in tests) and a
// net.Listener (ServeTCP), asks a Resolver whether a name is VNet's, and
// relays everything else through an Upstream, normally a Forwarder to the
// resolvers the OS used before VNet started.
//
// Decisions a reader would otherwise have to reverse-engineer:
//
//   - Names are matched lowercased and without the trailing dot; answers keep
//     the casing of the question.
//   - A name the Resolver owns never gets NXDOMAIN: a type it has no address
//     for gets an empty NOERROR (NODATA), so a cached negative answer for
//     one type cannot hide the A answer (docs/decisions.md, "DNS answers").
//   - Queries in flight are bounded (Config.MaxInFlight). When the bound is
//     reached a UDP query is dropped, not answered with SERVFAIL: the client
//     retries after its own timeout, whereas SERVFAIL may be cached
//     (RFC 2308 section 7.1) and turn a burst into minutes of failures. TCP
//     queries wait for a slot instead, which pushes back on the sender
//     through TCP flow control.
//   - A forwarded answer never points into VNet's own addresses: the engine
//     puts a RebindGuard between the server and the Forwarder, which
//     removes such A and AAAA records (DNS rebinding, issue 9).
//   - A UDP response larger than the client's buffer (512 bytes, or its
//     EDNS0 size) is truncated with TC set; over TCP nothing is truncated.
//   - VNet's own names are answered on the goroutine that read the query
//     (Datagrams.Handle's caller; ServeUDP's readers, one per CPU);
//     forwarded queries go to forwarding goroutines that wait for the next
//     query when done.
//   - The usual UDP query (one A or AAAA question of class IN, at most a
//     bare OPT record) is read and, for a name with an address of that
//     family, answered straight on the wire (fastpath.go), without
//     miekg/dns's structs; the bytes are the general path's, which a test
//     and a fuzz target compare, and everything else takes the general
//     path.
//   - The Forwarder keeps a few UDP sockets per upstream open (udpPool),
//     each renewed on a fresh port after socketUses queries, and matches
//     answers to queries by ID and question: an answer that matches no
//     query in flight, or the wrong question, is dropped and its query
//     keeps waiting. It asks upstreams in health order (health): one that
//     missed a query goes last for a while, so a dead first server costs
//     one query 200 ms, not every query its timeout.
//   - The usual UDP query for a name that is not VNet's is forwarded on
//     the wire (forward_wire.go): sent upstream as it came, by the
//     goroutine that read it, and its answer checked on the wire (ID,
//     question, every record's framing, the rebinding guard's rule) and
//     sent to the client by the goroutine that read it from the upstream:
//     no goroutine waits per query. An answer that is not the usual one,
//     or none by the time the next server is due, hands the query as sent
//     over to Exchange, which goes on from there with its own rules.
//     Names in the negative cache's scope, and Upstreams other than the
//     engine's chain (NegativeCache, RebindGuard, Forwarder), take the
//     general path.
package dns
