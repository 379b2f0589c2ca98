package platform

import "encoding/binary"

// A multi-queue TUN (IFF_MULTI_QUEUE): one device, several descriptors.
// The kernel puts each packet it sends to the device on one queue, by its
// flow: on the queue the flow's packets were last written to (its "automq"
// flow table, entries of which expire after a few seconds), else by a hash
// of the flow. Reading each queue on a goroutine of its own spreads the
// inbound work of many flows over the CPUs; one queue keeps all of it on
// one goroutine.
//
// Writes pick the queue by a hash of the packet's addresses and ports
// (writeQueue), so a flow's packets are written to one queue and the
// kernel then sends the flow's inbound packets to that queue too: one flow
// is read on one goroutine, in order.

// MaxTUNQueues bounds the queues of one TUN: more than the CPUs that can
// read them only costs descriptors.
const MaxTUNQueues = 8

// DefaultTUNQueues is the number of queues VNet opens unless told
// otherwise: one. Measured on two CPUs shared with the client and the
// server (docs/benchmarks.md, "A multi-queue TUN"), two queues cost more
// CPU per DNS query and moved no row beyond the noise; a machine with idle
// cores may gain (VNET_TUN_QUEUES, up to MaxTUNQueues).
const DefaultTUNQueues = 1

// virtioNetHdrLen is the virtio_net_hdr in front of every packet on the TUN
// (stack/vnethdr.go reads and writes it).
const virtioNetHdrLen = 10

// Queues implements stack.MultiQueue: how many queues ReadQueue reads.
func (t *TUN) Queues() int { return len(t.files) }

// writeQueue is the queue p (a virtio_net_hdr and an IP packet) is written
// to: 0 with one queue, else one picked by a hash of the flow (addresses,
// protocol and, for TCP and UDP, ports), the same for every packet of a
// flow. A packet too short to tell goes to queue 0.
func (t *TUN) writeQueue(p []byte) int {
	if len(t.files) == 1 {
		return 0
	}
	return int(flowHash(p[min(len(p), virtioNetHdrLen):]) % uint32(len(t.files)))
}

// flowHash hashes the flow of the raw IP packet b (FNV-1a over the
// addresses, the protocol and the first 4 bytes of the transport header,
// which for TCP and UDP are the ports). It returns 0 for what is not IPv4
// or IPv6 or is too short.
func flowHash(b []byte) uint32 {
	var key []byte
	var proto byte
	var l4 []byte
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0x0f) * 4
		key, proto = b[12:20], b[9]
		// Only a first (or whole) fragment carries the ports.
		if ihl >= 20 && len(b) >= ihl+4 && binary.BigEndian.Uint16(b[6:8])&0x1fff == 0 {
			l4 = b[ihl : ihl+4]
		}
	case len(b) >= 40 && b[0]>>4 == 6:
		key, proto = b[8:40], b[6]
		if len(b) >= 44 {
			l4 = b[40:44]
		}
	default:
		return 0
	}
	if proto != 6 && proto != 17 {
		l4 = nil
	}
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for _, c := range key {
		h = (h ^ uint32(c)) * prime
	}
	h = (h ^ uint32(proto)) * prime
	for _, c := range l4 {
		h = (h ^ uint32(c)) * prime
	}
	return h
}
