package stack

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TestTCPBuffersBounded: every connection's TCP buffers stay at 1 MiB
// (stack.go says why); moderation and send-buffer auto-tuning cannot grow
// them past it, which tailscale's caps (8 MiB, 6 MiB) let them do.
func TestTCPBuffersBounded(t *testing.T) {
	s, err := New(Config{IO: &sinkIO{done: make(chan struct{})}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var rcv tcpip.TCPReceiveBufferSizeRangeOption
	var snd tcpip.TCPSendBufferSizeRangeOption
	for _, opt := range []tcpip.GettableTransportProtocolOption{&rcv, &snd} {
		if err := s.ns.TransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
			t.Fatalf("%T: %v", opt, err)
		}
	}
	const limit = 1 << 20
	if rcv.Max > limit || snd.Max > limit || rcv.Default > rcv.Max || snd.Default > snd.Max {
		t.Errorf("receive buffer %+v, send buffer %+v: want defaults within a maximum of at most %d", rcv, snd, limit)
	}
}
