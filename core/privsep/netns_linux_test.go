package privsep

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
	"github.com/vnetproject/vnet/core/testkit"
)

// envNetns tells the copy of this test binary that runs inside a fresh
// network namespace its name; envExit makes it exit at once (a dead pid).
const (
	envNetns = "VNET_PRIVSEP_NETNS"
	envExit  = "VNET_PRIVSEP_EXIT"
)

func TestMain(m *testing.M) {
	if os.Getenv(envExit) != "" {
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestHelperInNetns runs TestInsideNetns as root in a network namespace of
// its own: the helper's real changes (device, rules, routes, guard) touch
// only that namespace.
func TestHelperInNetns(t *testing.T) {
	testkit.RunInNetns(t, testkit.Netns{Prefix: "vnet-ps", Env: envNetns, Inner: "TestInsideNetns"})
}

func TestInsideNetns(t *testing.T) {
	if testkit.InNetns(envNetns) == "" {
		t.Skip("runs inside the namespace made by TestHelperInNetns")
	}
	if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	me := uint32(os.Getuid())
	_, err := exec.LookPath("nft")
	haveNft := err == nil
	if !haveNft {
		t.Log("no nft: the guard is checked absent")
	}
	settings := netcfg.Settings{
		TunAddr4: netip.MustParseAddr("100.64.0.1"),
		Routes:   []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10")},
		DNSAddrs: []netip.Addr{netip.MustParseAddr("100.64.0.2")},
		MTU:      1500,
	}

	t.Run("a session opens, applies and undoes everything", func(t *testing.T) {
		opened := 0 // read once Serve has returned
		h, err := NewHelper(HelperConfig{Allow: AllowUID(me, os.Getpid()), DNSMode: platform.DNSModeNone, StateDir: dir, Opened: func() { opened++ }})
		if err != nil {
			t.Fatal(err)
		}
		hs, es := seqpacketPair(t)
		served := make(chan error, 1)
		go func() { served <- h.Serve(context.Background(), hs) }()
		c, err := NewClient(context.Background(), es)
		if err != nil {
			t.Fatal(err)
		}
		tun, mode, err := c.OpenTUN(context.Background(), "vnetps0", 1500, 3)
		if err != nil {
			t.Fatal(err)
		}
		if tun.Name() != "vnetps0" || mode != platform.DNSModeNone || tun.Queues() != 3 {
			t.Fatalf("OpenTUN = %s, %s, %d queues; want vnetps0, none, 3", tun.Name(), mode, tun.Queues())
		}
		if haveNft && c.Unguarded() != "" {
			t.Errorf("Unguarded = %q with nft present", c.Unguarded())
		}
		if _, err := os.Stat(stateFile(dir, "vnetps0")); err != nil {
			t.Fatalf("no state file: %v", err)
		}
		if n := ourRules(t); n != 2 {
			t.Fatalf("%d rules for table %d, want 2 (IPv4 and IPv6)", n, RouteTable)
		}
		if err := c.Apply(context.Background(), settings); err != nil {
			t.Fatal(err)
		}
		if got := routes(t, RouteTable); !bytes.Contains([]byte(got), []byte("100.64.0.0/10")) {
			t.Errorf("table %d = %q, want VNet's range", RouteTable, got)
		}
		main := routes(t, unix.RT_TABLE_MAIN)
		if !bytes.Contains([]byte(main), []byte("100.64.0.2/32")) || bytes.Contains([]byte(main), []byte("100.64.0.0/10")) {
			t.Errorf("main table = %q, want VNet's DNS address alone", main)
		}
		bad := settings
		bad.Routes = append(bad.Routes, netip.MustParsePrefix("0.0.0.0/0"))
		if err := c.Apply(context.Background(), bad); err == nil {
			t.Error("the helper routed the default route for an engine")
		}
		tun.Close()
		c.Close()
		if err := <-served; err != nil {
			t.Fatal(err)
		}
		if opened != 1 {
			t.Errorf("Opened called %d times, want once (after the device was handed over)", opened)
		}
		assertNothingLeft(t, dir, "vnetps0")
	})

	t.Run("a session for a user who is not root guards the device and adds the reverse-path rules", func(t *testing.T) {
		const uid = 4242
		s := &session{cfg: &HelperConfig{Allow: AllowUID(uid, 0), DNSMode: platform.DNSModeNone, StateDir: dir, Logger: slog.Default()}, uid: uid, log: slog.Default()}
		if err := s.open("vnetps2", 1500, 1); err != nil {
			t.Fatal(err)
		}
		defer s.close()
		if haveNft {
			if s.unguarded != "" {
				t.Fatalf("unguarded with nft present: %s", s.unguarded)
			}
			if got := nftTable(t, "vnetps2"); !strings.Contains(got, `oifname "vnetps2" meta skuid != 4242 drop`) {
				t.Errorf("guard after open:\n%s", got)
			}
		} else if !strings.Contains(s.unguarded, "SO_BINDTODEVICE") {
			t.Errorf("no nft, and unguarded = %q", s.unguarded)
		}
		if err := s.apply(context.Background(), settings); err != nil {
			t.Fatal(err)
		}
		if haveNft {
			if got := nftTable(t, "vnetps2"); !strings.Contains(got, "ip daddr 100.64.0.2 meta l4proto { tcp, udp } th dport 53 accept") {
				t.Errorf("guard after apply lets nobody's DNS through:\n%s", got)
			}
		}
		if out, _ := exec.Command("ip", "rule", "show").CombinedOutput(); !strings.Contains(string(out), "from 100.64.0.1 iif lo uidrange 0-0 lookup 7353") {
			t.Errorf("no reverse-path rule for the device's address:\n%s", out)
		}
		moved := settings
		moved.TunAddr4 = netip.MustParseAddr("100.64.0.3")
		moved.DNSAddrs = []netip.Addr{netip.MustParseAddr("100.64.0.4")}
		if err := s.apply(context.Background(), moved); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command("ip", "rule", "show").CombinedOutput()
		if strings.Contains(string(out), "from 100.64.0.1 ") || !strings.Contains(string(out), "from 100.64.0.3 ") {
			t.Errorf("reverse-path rule did not follow the address:\n%s", out)
		}
		st, err := readState(s.statePath)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(st.Rules); n != 3 {
			t.Errorf("state lists %d rules, want 3 (user's IPv4, IPv6, root's from the address): %v", n, st.Rules)
		}
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
		assertNothingLeft(t, dir, "vnetps2")
	})

	t.Run("without nft the device opens unguarded, and says so", func(t *testing.T) {
		path := os.Getenv("PATH")
		t.Setenv("PATH", t.TempDir())
		s := &session{cfg: &HelperConfig{Allow: AllowUID(4242, 0), DNSMode: platform.DNSModeNone, StateDir: dir, Logger: slog.Default()}, uid: 4242, log: slog.Default()}
		if err := s.open("vnetps3", 1500, 2); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(s.unguarded, "SO_BINDTODEVICE") || !strings.Contains(s.unguarded, "nft not found") {
			t.Errorf("unguarded = %q, want why, in one line", s.unguarded)
		}
		if err := s.apply(context.Background(), settings); err != nil {
			t.Fatal(err)
		}
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
		os.Setenv("PATH", path)
		assertNothingLeft(t, dir, "vnetps3")
	})

	t.Run("Recover undoes what a dead helper left", func(t *testing.T) {
		dead := exec.Command(os.Args[0])
		dead.Env = append(os.Environ(), envExit+"=1")
		if err := dead.Run(); err != nil {
			t.Fatal(err)
		}
		rule := platform.UIDRule{Family: unix.AF_INET, Priority: RulePriority, Table: RouteTable, UID: me}
		if err := platform.AddUIDRule(rule); err != nil {
			t.Fatal(err)
		}
		tun, err := platform.OpenTUN("vnetps1", 1500, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer tun.Close() // a descriptor an engine still holds
		st := state{PID: dead.Process.Pid, Tun: "vnetps1", Rules: []platform.UIDRule{rule}, DNSMode: platform.DNSModeNone}
		if haveNft {
			st.NftTable = platform.GuardTable("vnetps1")
			if err := platform.ApplyGuard(context.Background(), platform.DeviceGuard{Table: st.NftTable, Dev: "vnetps1", UID: me}); err != nil {
				t.Fatal(err)
			}
		}
		if err := writeState(stateFile(dir, "vnetps1"), st); err != nil {
			t.Fatal(err)
		}
		if n, err := Recover(dir, nil); n != 1 || err != nil {
			t.Fatalf("Recover = %d, %v; want 1 undone", n, err)
		}
		assertNothingLeft(t, dir, "vnetps1")
	})
}

// nftTable is the guard table of dev as nft lists it.
func nftTable(t *testing.T, dev string) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "inet", platform.GuardTable(dev)).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table: %v\n%s", err, out)
	}
	return string(out)
}

func ourRules(t *testing.T) int {
	t.Helper()
	n := 0
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := netlink.RuleList(fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			if r.Table == RouteTable {
				n++
			}
		}
	}
	return n
}

func routes(t *testing.T, table int) string {
	t.Helper()
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(rs)
}

func assertNothingLeft(t *testing.T, dir, tun string) {
	t.Helper()
	if n := ourRules(t); n != 0 {
		t.Errorf("%d rules left", n)
	}
	if _, err := netlink.LinkByName(tun); err == nil {
		t.Errorf("device %s left", tun)
	}
	if got := routes(t, RouteTable); got != "[]" {
		t.Errorf("routes left in table %d: %s", RouteTable, got)
	}
	if out, err := exec.Command("nft", "list", "tables").CombinedOutput(); err == nil && strings.Contains(string(out), platform.GuardTable(tun)) {
		t.Errorf("nft table left: %s", out)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "helper-*")); len(m) != 0 {
		t.Errorf("state files left: %v", m)
	}
}
