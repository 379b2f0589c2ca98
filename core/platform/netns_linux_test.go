package platform

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/stack"
	"github.com/vnetproject/vnet/core/testkit"
)

var _ stack.PacketIO = (*TUN)(nil)

// envNetns carries, to the copy of this test binary that runs inside the
// namespace, the namespace's name.
const envNetns = "VNET_PLATFORM_NETNS"

// waitLimit bounds every wait so that a broken kernel path fails the test
// instead of hanging it; it is not a performance assertion.
const waitLimit = 60 * time.Second

// TestLinuxInNetns runs TestInsideNetns as root in a network namespace it
// creates (with its own /etc/resolv.conf, via /etc/netns/NAME).
func TestLinuxInNetns(t *testing.T) {
	testkit.RunInNetns(t, testkit.Netns{Prefix: "vnet-pt", Env: envNetns, Inner: "TestInsideNetns", ResolvConf: netnsResolvConf})
}

// netnsResolvConf is the namespace's resolv.conf; its first line proves to
// the inner test that /etc/resolv.conf is the namespace's copy.
func netnsResolvConf(name string) string {
	return "# vnet platform test " + name + "\n" + origResolv
}

func TestInsideNetns(t *testing.T) {
	name := testkit.InNetns(envNetns)
	if name == "" {
		t.Skip("runs inside the namespace made by TestLinuxInNetns")
	}
	const resolvPath = DefaultResolvConfPath
	orig := readFile(t, resolvPath)
	if orig != netnsResolvConf(name) {
		t.Fatalf("%s is not the test namespace's; refusing to touch it:\n%s", resolvPath, orig)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))

	t.Run("stale resolv.conf restored", func(t *testing.T) {
		stale := wrapResolvConf([]byte(orig), deadPID(t), []netip.Addr{netip.MustParseAddr("100.64.0.99")})
		if err := writeInPlace(resolvPath, stale); err != nil {
			t.Fatal(err)
		}
		if got, err := OriginalResolvConf(resolvPath); err != nil || string(got) != orig {
			t.Errorf("OriginalResolvConf = %q, %v; want %q", got, err, orig)
		}
		if err := RestoreStale(resolvPath); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, resolvPath); got != orig {
			t.Fatalf("after RestoreStale: %q, want %q", got, orig)
		}
	})

	tun, err := OpenTUN("vnettest0", 1400, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	dev := tun.Name()
	if dev != "vnettest0" {
		t.Errorf("Name = %q", dev)
	}
	if out := ip(t, "-o", "link", "show", dev); !strings.Contains(out, "mtu 1400") {
		t.Errorf("MTU not set: %s", out)
	}

	c, err := NewConfigurator(Config{TunName: dev, DNSMode: DNSModeResolvConf, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := netcfg.Settings{
		TunAddr4: netip.MustParseAddr("100.64.0.1"),
		Routes:   []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10")},
		DNSAddrs: []netip.Addr{netip.MustParseAddr("100.64.0.2")},
		MTU:      1400,
	}
	ipv6 := strings.TrimSpace(readFileOr(fmt.Sprintf("/proc/sys/net/ipv6/conf/%s/disable_ipv6", dev))) == "0"
	if ipv6 {
		s.TunAddr6 = netip.MustParseAddr("fd00:aa::1")
		s.Routes = append(s.Routes, netip.MustParsePrefix("fd00:aa::/64"))
	} else {
		t.Log("IPv6 is off in the namespace; testing IPv4 only")
	}
	if err := c.Apply(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if out := ip(t, "-o", "link", "show", dev); !strings.Contains(out, ",UP") {
		t.Errorf("link not up: %s", out)
	}
	if out := ip(t, "-o", "-4", "addr", "show", "dev", dev); !strings.Contains(out, "inet 100.64.0.1/32") {
		t.Errorf("IPv4 address missing: %s", out)
	}
	if out := ip(t, "-4", "route", "show", "dev", dev); !strings.Contains(out, "100.64.0.0/10") {
		t.Errorf("IPv4 route missing: %s", out)
	}
	if ipv6 {
		// VNet's address alone: the kernel's link-local one may still be
		// tentative (its duplicate detection is not VNet's).
		out := ip(t, "-o", "-6", "addr", "show", "dev", dev, "to", "fd00:aa::1/128")
		if !strings.Contains(out, "inet6 fd00:aa::1/128") || strings.Contains(out, "tentative") {
			t.Errorf("IPv6 address missing or not usable: %s", out)
		}
		if out := ip(t, "-6", "route", "show", "dev", dev); !strings.Contains(out, "fd00:aa::/64") {
			t.Errorf("IPv6 route missing: %s", out)
		}
	}
	if got := readFile(t, resolvPath); !isVNetResolvConf([]byte(got)) ||
		!strings.Contains(got, "\nnameserver 100.64.0.2\n") || !strings.Contains(got, "\nsearch corp.example\n") {
		t.Errorf("resolv.conf not pointed at VNet:\n%s", got)
	}

	t.Run("packets both ways", func(t *testing.T) {
		conn, err := net.Dial("udp4", "100.64.0.9:9")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("hello vnet")); err != nil {
			t.Fatal(err)
		}
		pkt := readUntil(t, tun, func(p []byte) bool {
			return len(p) >= 28 && p[0]>>4 == 4 && p[9] == 17 && netip.AddrFrom4([4]byte(p[16:20])) == netip.MustParseAddr("100.64.0.9")
		})
		ihl := int(pkt[0]&0x0f) * 4
		if src := netip.AddrFrom4([4]byte(pkt[12:16])); src != s.TunAddr4 {
			t.Errorf("source %v, want %v", src, s.TunAddr4)
		}
		udp := pkt[ihl:]
		if port := binary.BigEndian.Uint16(udp[2:4]); port != 9 {
			t.Errorf("destination port %d, want 9", port)
		}
		if payload := string(udp[8:]); payload != "hello vnet" {
			t.Errorf("payload %q", payload)
		}

		// Answer from 100.64.0.9:9; the kernel delivers it to conn.
		local := conn.LocalAddr().(*net.UDPAddr)
		reply := udp4Packet(netip.MustParseAddr("100.64.0.9"), 9, s.TunAddr4, uint16(local.Port), []byte("hello back"))
		// An empty virtio_net_hdr: no offload, the checksum is complete.
		reply = append(make([]byte, virtioNetHdrLen), reply...)
		if err := tun.WritePackets([][]byte{reply}); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(waitLimit))
		buf := make([]byte, 100)
		n, err := conn.Read(buf)
		if err != nil || string(buf[:n]) != "hello back" {
			t.Errorf("read reply: %q, %v", buf[:n], err)
		}
	})

	t.Run("routes follow the settings", func(t *testing.T) {
		s2 := s
		s2.Routes = []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("10.99.0.0/16")}
		if err := c.Apply(context.Background(), s2); err != nil {
			t.Fatal(err)
		}
		out := ip(t, "-4", "route", "show", "dev", dev)
		if !strings.Contains(out, "100.64.0.0/10") || !strings.Contains(out, "10.99.0.0/16") {
			t.Errorf("routes after adding 10.99.0.0/16: %s", out)
		}
		if ipv6 {
			if out := ip(t, "-6", "route", "show", "dev", dev); strings.Contains(out, "fd00:aa::/64") {
				t.Errorf("IPv6 route not removed: %s", out)
			}
		}
	})

	if err := c.Close(); err != nil {
		t.Fatalf("Configurator.Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Configurator.Close: %v", err)
	}
	if out := ip(t, "-o", "addr", "show", "dev", dev); strings.Contains(out, "100.64.0.1") || strings.Contains(out, "fd00:aa::1") {
		t.Errorf("addresses left after Close: %s", out)
	}
	if out := ip(t, "route", "show", "dev", dev); strings.TrimSpace(out) != "" {
		t.Errorf("routes left after Close: %s", out)
	}
	if got := readFile(t, resolvPath); got != orig {
		t.Errorf("resolv.conf after Close = %q, want the original %q", got, orig)
	}

	t.Run("close wakes a blocked read and removes the device", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			buf := [][]byte{make([]byte, 1500)}
			sizes := []int{0}
			for {
				if _, err := tun.ReadPackets(buf, sizes); err != nil {
					done <- err
					return
				}
			}
		}()
		if err := tun.Close(); err != nil {
			t.Fatalf("TUN.Close: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrClosed) {
				t.Errorf("ReadPackets after Close: %v, want os.ErrClosed", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("ReadPackets still blocked after Close")
		}
		if err := tun.Close(); err != nil {
			t.Errorf("second TUN.Close: %v", err)
		}
		if err := tun.WritePackets([][]byte{make([]byte, 20)}); !errors.Is(err, os.ErrClosed) {
			t.Errorf("WritePackets after Close: %v, want os.ErrClosed", err)
		}
		if out, err := exec.Command("ip", "link", "show", dev).CombinedOutput(); err == nil {
			t.Errorf("device still there after Close: %s", out)
		}
	})

	t.Run("multi-queue", testMultiQueueTUN) // tunqueues_netns_linux_test.go
	t.Run("multi-queue stack", testMultiQueueStack)
}

// readUntil reads packets from tun until one matches, and returns it
// without its virtio_net_hdr.
func readUntil(t *testing.T, tun *TUN, match func([]byte) bool) []byte {
	t.Helper()
	found := make(chan []byte, 1)
	go func() {
		defer close(found)
		bufs := [][]byte{make([]byte, virtioNetHdrLen+65535)}
		sizes := []int{0}
		for {
			n, err := tun.ReadPackets(bufs, sizes)
			if err != nil {
				return
			}
			if n != 1 || sizes[0] < virtioNetHdrLen {
				continue
			}
			if p := bufs[0][virtioNetHdrLen:sizes[0]]; match(p) {
				found <- bytes.Clone(p)
				return
			}
		}
	}()
	select {
	case p, ok := <-found:
		if !ok {
			t.Fatal("ReadPackets failed before the packet came")
		}
		return p
	case <-time.After(waitLimit):
		tun.Close() // ends the reader
		<-found
		t.Fatal("packet never read from the TUN")
		return nil
	}
}

// udp4Packet builds an IPv4 UDP packet (UDP checksum 0: none, allowed for
// IPv4 by RFC 768).
func udp4Packet(src netip.Addr, sport uint16, dst netip.Addr, dport uint16, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8] = 64 // TTL
	p[9] = 17 // UDP
	s4, d4 := src.As4(), dst.As4()
	copy(p[12:], s4[:])
	copy(p[16:], d4[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(p[20:], sport)
	binary.BigEndian.PutUint16(p[22:], dport)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readFileOr(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
