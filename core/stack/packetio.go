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
