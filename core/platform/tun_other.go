//go:build !linux

package platform

// TUN is a TUN device; outside Linux it cannot be opened (on macOS the
// Network Extension's packetFlow carries the packets).
type TUN struct{}

// OpenTUN returns ErrUnsupported.
func OpenTUN(name string, mtu, queues int) (*TUN, error) { return nil, ErrUnsupported }

// Name returns "".
func (t *TUN) Name() string { return "" }

// ReadPackets returns ErrUnsupported.
func (t *TUN) ReadPackets(bufs [][]byte, sizes []int) (int, error) { return 0, ErrUnsupported }

// WritePackets returns ErrUnsupported.
func (t *TUN) WritePackets(pkts [][]byte) error { return ErrUnsupported }

// Close does nothing.
func (t *TUN) Close() error { return nil }
