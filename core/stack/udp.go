package stack

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"syscall"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// UDPHandler gets the UDP datagrams sent to an address and port given to
// HandleUDP: src is the sender, dst that address and port. It is called on
// the goroutine that reads the PacketIO, so it must not block; payload is
// only valid during the call.
type UDPHandler func(src, dst netip.AddrPort, payload []byte)

// udpTTL is the hop limit of the datagrams WriteUDP sends, as gVisor's
// default.
const udpTTL = 64

// HandleUDP gives h every UDP datagram to addr, which must be one of
// Config.Addresses with a port, instead of a socket: no gVisor endpoint,
// no receive queue and no goroutine hand-over per datagram. That is for a
// server that answers from memory, VNet's DNS (issue 12); a socket
// (ListenUDP) on the same address and port takes precedence. Datagrams
// with a bad checksum or length are dropped before h. Answer with WriteUDP.
// HandleUDP is meant for setup, before Run.
func (s *Stack) HandleUDP(addr netip.AddrPort, h UDPHandler) error {
	a := addr.Addr().Unmap()
	if !slices.Contains(s.cfg.Addresses, a) || addr.Port() == 0 {
		return opError("listen", "udp", addr, fmt.Errorf("%s is not one of the stack's addresses with a port: %w", addr, syscall.EADDRNOTAVAIL))
	}
	key := netip.AddrPortFrom(a, addr.Port())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return opError("listen", "udp", addr, ErrClosed)
	}
	m := map[netip.AddrPort]UDPHandler{}
	if old := s.udpHandlers.Load(); old != nil {
		if _, ok := (*old)[key]; ok {
			return opError("listen", "udp", addr, syscall.EADDRINUSE)
		}
		maps.Copy(m, *old)
	}
	m[key] = h
	s.udpHandlers.Store(&m)
	return nil
}

// handleUDPPacket is gVisor's handler for UDP datagrams that no socket
// took. It reports whether a UDPHandler took the datagram; if not, gVisor
// answers port unreachable as before.
func (s *Stack) handleUDPPacket(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
	handlers := s.udpHandlers.Load()
	if handlers == nil {
		return false
	}
	dst := netip.AddrPortFrom(fromTCPIP(id.LocalAddress), id.LocalPort)
	h := (*handlers)[dst]
	if h == nil {
		return false
	}
	// What gVisor's UDP socket checks on delivery.
	hdr := header.UDP(pkt.TransportHeader().Slice())
	size := pkt.Data().Size()
	lengthOK, csumOK := header.UDPValid(hdr, func() uint16 { return pkt.Data().Checksum() }, uint16(size),
		pkt.NetworkProtocolNumber, id.RemoteAddress, id.LocalAddress, pkt.RXChecksumValidated)
	if !lengthOK || !csumOK {
		return true // dropped, as a socket drops it
	}
	payload := pkt.Data().AsRange().Capped(int(hdr.Length()) - header.UDPMinimumSize).ToSlice()
	h(netip.AddrPortFrom(fromTCPIP(id.RemoteAddress), id.RemotePort), dst, payload)
	return true
}

// WriteUDP sends payload in one UDP datagram from src to dst (of the same
// family) out of the stack, as a socket bound to src would. When the
// PacketIO takes writes from several goroutines at once (ConcurrentWriter),
// the packet is written to it at once by the caller, without the outbound
// queue and its writer goroutine (udpfast.go).
func (s *Stack) WriteUDP(src, dst netip.AddrPort, payload []byte) error {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if sa.Is4() != da.Is4() {
		return fmt.Errorf("write udp from %s to %s: different families", src, dst)
	}
	if header.UDPMinimumSize+len(payload) > 0xffff {
		return fmt.Errorf("write udp to %s: %d bytes is too long", dst, len(payload))
	}
	src, dst = netip.AddrPortFrom(sa, src.Port()), netip.AddrPortFrom(da, dst.Port())
	if s.link.direct {
		return s.writeUDPDirect(src, dst, payload)
	}
	b := appendUDP(make([]byte, 0, header.IPv6MinimumSize+header.UDPMinimumSize+len(payload)), src, dst, payload)
	if terr := s.ns.WriteRawPacket(nicID, netProto(sa), buffer.MakeWithData(b)); terr != nil {
		err := netError(terr)
		if s.isClosed() {
			err = errors.Join(ErrClosed, err)
		}
		return opError("write", "udp", dst, err)
	}
	return nil
}
