package stack

// PacketIO moves raw IP packets (IPv4 or IPv6, no link-layer header) between
// the operating system and the stack. On Linux it is a TUN device; on macOS
// it is the Network Extension's packetFlow, reached through the bridge; in
// tests it is one end of a stacktest.Pipe.
//
// Implementations must allow ReadPackets and WritePackets to be called
// concurrently from different goroutines, and must make a blocked
// ReadPackets return an error once Close is called.
//
// Stack.Run takes an error from ReadPackets as the end of the device and
// stops; an error from WritePackets only loses that batch, like packets
// lost on a wire, and is counted in Stats.DroppedOut.
type PacketIO interface {
	// ReadPackets blocks until at least one packet is available, copies up
	// to len(bufs) packets into bufs, stores each length in sizes and
	// returns how many it read.
	ReadPackets(bufs [][]byte, sizes []int) (int, error)
	// WritePackets sends each packet to the OS. The caller keeps ownership
	// of the slices; they may be reused once WritePackets returns.
	WritePackets(pkts [][]byte) error
	// Close releases the device. It is idempotent.
	Close() error
}

// A PacketIO may also implement these, to be driven as it works best.

// Batcher tells the most packets one ReadPackets or WritePackets call
// moves: 1 for a TUN (one packet per read(2)), more across the macOS
// bridge. Without it, or when it returns 0, the link uses batchLen.
type Batcher interface {
	BatchSize() int
}

// Offloader is a PacketIO whose packets each begin with a virtio_net_hdr
// (a Linux TUN opened with IFF_VNET_HDR and TCP segmentation offload; see
// vnethdr.go), in both directions, when VirtioNetHdr reports true. The
// link then reads and writes TCP super-segments of up to 64 KiB and leaves
// their checksums to the kernel.
type Offloader interface {
	VirtioNetHdr() bool
}

// ConcurrentWriter is a PacketIO whose WritePackets may be called from
// several goroutines at once when ConcurrentWrites reports true (a Linux
// TUN: each write(2) is one packet). The stack then writes the datagrams
// of WriteUDP (VNet's DNS answers) itself, on the caller's goroutine,
// instead of through the outbound queue.
type ConcurrentWriter interface {
	ConcurrentWrites() bool
}

// MultiQueue is a PacketIO with several receive queues (a Linux TUN opened
// with IFF_MULTI_QUEUE), each read on a goroutine of its own when Queues
// reports more than 1: the inbound work of many flows, the fast path's DNS
// answers included, is then spread over the CPUs. ReadQueue(q, ...) reads
// queue q, 0 <= q < Queues(), as ReadPackets reads the whole device; calls
// for different queues run concurrently, and each must return an error
// once Close is called. ReadPackets is then not called.
type MultiQueue interface {
	Queues() int
	ReadQueue(q int, bufs [][]byte, sizes []int) (int, error)
}
