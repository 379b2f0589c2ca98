package ipam

import (
	"bytes"
	"crypto/rand"
	"net/netip"
	"testing"
	"testing/iotest"
)

func TestNewULAPrefix(t *testing.T) {
	got, err := NewULAPrefix(bytes.NewReader([]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xff}))
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParsePrefix("fd12:3456:789a::/64"); got != want {
		t.Errorf("NewULAPrefix = %s, want %s", got, want)
	}

	random, err := NewULAPrefix(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !netip.MustParsePrefix("fd00::/8").Contains(random.Addr()) || random.Bits() != 64 || random.Masked() != random {
		t.Errorf("NewULAPrefix(rand) = %s, want a masked /64 in fd00::/8", random)
	}

	if _, err := NewULAPrefix(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Error("NewULAPrefix(short reader): want an error")
	}
	if _, err := NewULAPrefix(iotest.ErrReader(iotest.ErrTimeout)); err == nil {
		t.Error("NewULAPrefix(failing reader): want an error")
	}
}

func TestMapIPv6RoundTrip(t *testing.T) {
	ula := netip.MustParsePrefix("fd12:3456:789a::/64")
	tests := []struct {
		name string
		v4   string
		v6   string
	}{
		{name: "app", v4: "100.64.0.5", v6: "fd12:3456:789a::6440:5"},
		{name: "dns server", v4: "100.64.0.2", v6: "fd12:3456:789a::6440:2"},
		{name: "high address", v4: "255.255.255.254", v6: "fd12:3456:789a::ffff:fffe"},
		{name: "zero", v4: "0.0.0.0", v6: "fd12:3456:789a::"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v6 := MapToIPv6(ula, netip.MustParseAddr(tt.v4))
			if v6.String() != tt.v6 {
				t.Fatalf("MapToIPv6(%s) = %s, want %s", tt.v4, v6, tt.v6)
			}
			v4, ok := MapToIPv4(ula, v6)
			if !ok || v4.String() != tt.v4 {
				t.Errorf("MapToIPv4(%s) = %s, %v; want %s, true", v6, v4, ok, tt.v4)
			}
		})
	}
	// An IPv4-mapped IPv6 input is taken as the IPv4 address it holds.
	if got := MapToIPv6(ula, netip.MustParseAddr("::ffff:100.64.0.5")); got.String() != "fd12:3456:789a::6440:5" {
		t.Errorf("MapToIPv6(4in6) = %s", got)
	}
}

func TestMapIPv6Rejects(t *testing.T) {
	ula := netip.MustParsePrefix("fd12:3456:789a::/64")
	toV6 := []struct {
		name string
		ula  netip.Prefix
		v4   netip.Addr
	}{
		{name: "v6 input", ula: ula, v4: netip.MustParseAddr("fd00::1")},
		{name: "zero v4", ula: ula, v4: netip.Addr{}},
		{name: "prefix not /64", ula: netip.MustParsePrefix("fd12::/48"), v4: netip.MustParseAddr("10.0.0.1")},
		{name: "IPv4 prefix", ula: netip.MustParsePrefix("10.0.0.0/8"), v4: netip.MustParseAddr("10.0.0.1")},
	}
	for _, tt := range toV6 {
		t.Run("MapToIPv6/"+tt.name, func(t *testing.T) {
			if got := MapToIPv6(tt.ula, tt.v4); got.IsValid() {
				t.Errorf("MapToIPv6(%s, %s) = %s, want the zero Addr", tt.ula, tt.v4, got)
			}
		})
	}
	toV4 := []struct {
		name string
		v6   string
	}{
		{name: "other prefix", v6: "fd12:3456:789b::6440:5"},
		{name: "bits 64..95 set", v6: "fd12:3456:789a::1:6440:5"},
		{name: "IPv4 address", v6: "100.64.0.5"},
		{name: "IPv4-mapped", v6: "::ffff:100.64.0.5"},
		{name: "zoned", v6: "fd12:3456:789a::6440:5%eth0"},
	}
	for _, tt := range toV4 {
		t.Run("MapToIPv4/"+tt.name, func(t *testing.T) {
			if got, ok := MapToIPv4(ula, netip.MustParseAddr(tt.v6)); ok {
				t.Errorf("MapToIPv4(%s) = %s, true; want false", tt.v6, got)
			}
		})
	}
}
