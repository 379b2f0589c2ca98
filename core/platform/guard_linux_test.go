package platform

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The guard's script, as nft reads it: the table replaced in one
// transaction, DNS to VNet's addresses let through, then every other
// socket's packet out of the device dropped unless it is the user's.
func TestDeviceGuardScript(t *testing.T) {
	g := DeviceGuard{Table: GuardTable("vnet0"), Dev: "vnet0", UID: 1000, DNS: []netip.Addr{
		netip.MustParseAddr("100.64.0.2"), netip.MustParseAddr("fd00:aa::2"),
	}}
	got, err := g.Script()
	if err != nil {
		t.Fatal(err)
	}
	want := `table inet vnet_vnet0
delete table inet vnet_vnet0
table inet vnet_vnet0 {
	chain output {
		type filter hook output priority filter; policy accept;
		oifname "vnet0" ip daddr 100.64.0.2 meta l4proto { tcp, udp } th dport 53 accept
		oifname "vnet0" ip6 daddr fd00:aa::2 meta l4proto { tcp, udp } th dport 53 accept
		oifname "vnet0" meta skuid != 1000 drop
	}
}
`
	if got != want {
		t.Errorf("script:\n%s\nwant:\n%s", got, want)
	}
}

// Nothing but a name's characters reaches the script: a device or table
// name that nft would read as syntax is refused.
func TestDeviceGuardRefusesBadNames(t *testing.T) {
	for _, g := range []DeviceGuard{
		{Table: "vnet_x", Dev: `vnet0" accept #`},
		{Table: "vnet_x", Dev: "vnet0;"},
		{Table: "vnet_x }", Dev: "vnet0"},
		{Table: "vnet_x", Dev: ""},
	} {
		if s, err := g.Script(); err == nil {
			t.Errorf("Script(%+v) = %q, want a refusal", g, s)
		}
		if err := ApplyGuard(context.Background(), g); err == nil || !strings.Contains(err.Error(), "only") && !strings.Contains(err.Error(), "empty") {
			t.Errorf("ApplyGuard(%+v) = %v, want a refusal", g, err)
		}
	}
	if err := DeleteGuard(context.Background(), "vnet_x; flush ruleset"); err == nil {
		t.Error("DeleteGuard took a name with syntax in it")
	}
}

func TestUIDRuleString(t *testing.T) {
	r := UIDRule{Family: unix.AF_INET, Priority: 7353, Table: 7353, UID: 0, From: netip.MustParsePrefix("100.64.0.1/32")}
	if got, want := r.String(), "inet rule priority 7353 iif lo from 100.64.0.1/32 uidrange 0-0 lookup 7353"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

// Without nft no guard can be made (the caller says so), and none can be
// left to delete: undo goes on.
func TestGuardWithoutNft(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	g := DeviceGuard{Table: GuardTable("vnet0"), Dev: "vnet0", UID: 1000}
	if err := ApplyGuard(context.Background(), g); !errors.Is(err, ErrNoNft) {
		t.Errorf("ApplyGuard without nft = %v, want ErrNoNft", err)
	}
	if err := DeleteGuard(context.Background(), g.Table); err != nil {
		t.Errorf("DeleteGuard without nft = %v, want nil", err)
	}
}
