package stack

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TestTCPOptions checks the TCP tuning New applies (tailscale's
// wgengine/netstack settings): SACK on, RACK off, reno, the raised buffer
// ranges and receive-buffer moderation.
func TestTCPOptions(t *testing.T) {
	s, err := New(Config{IO: &sinkIO{done: make(chan struct{})}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func(opt tcpip.GettableTransportProtocolOption) {
		t.Helper()
		if err := s.ns.TransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
			t.Fatalf("get %T: %v", opt, err)
		}
	}
	var (
		sack     tcpip.TCPSACKEnabled
		recovery tcpip.TCPRecovery
		cc       tcpip.CongestionControlOption
		rcv      tcpip.TCPReceiveBufferSizeRangeOption
		snd      tcpip.TCPSendBufferSizeRangeOption
		moderate tcpip.TCPModerateReceiveBufferOption
	)
	get(&sack)
	get(&recovery)
	get(&cc)
	get(&rcv)
	get(&snd)
	get(&moderate)
	if !sack {
		t.Error("SACK is off")
	}
	if recovery != 0 {
		t.Errorf("TCPRecovery = %d, want 0 (RACK off)", recovery)
	}
	if cc != "reno" {
		t.Errorf("congestion control = %q, want reno", cc)
	}
	// The buffers' sizes: TestTCPBuffersBounded.
	if !moderate {
		t.Error("receive buffer moderation is off")
	}
}
