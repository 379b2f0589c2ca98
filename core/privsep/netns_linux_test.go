package privsep

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
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
// its own, by running this test binary again under `ip netns exec`: the
// helper's real changes (device, rules, routes) touch only that namespace.
func TestHelperInNetns(t *testing.T) {
	if os.Getenv(envNetns) != "" {
		t.Skip("already inside the namespace")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command")
	}
	name := fmt.Sprintf("vnet-ps-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", name, os.Args[0], "-test.run=^TestInsideNetns$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envNetns+"="+name)
	out, err := cmd.CombinedOutput()
	t.Logf("inside %s:\n%s", name, out)
	if err != nil {
		t.Fatalf("test inside the namespace failed: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestInsideNetns")) {
		t.Fatal("test inside the namespace did not run")
	}
}

func TestInsideNetns(t *testing.T) {
	if os.Getenv(envNetns) == "" {
		t.Skip("runs inside the namespace made by TestHelperInNetns")
	}
	if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	me := uint32(os.Getuid())
	settings := netcfg.Settings{
		TunAddr4: netip.MustParseAddr("100.64.0.1"),
		Routes:   []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10")},
		DNSAddrs: []netip.Addr{netip.MustParseAddr("100.64.0.2")},
		MTU:      1500,
	}

	t.Run("a session opens, applies and undoes everything", func(t *testing.T) {
		h, err := NewHelper(HelperConfig{Allow: AllowUID(me, os.Getpid()), DNSMode: platform.DNSModeNone, StateDir: dir})
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
		tun, mode, err := c.OpenTUN(context.Background(), "vnetps0", 1500)
		if err != nil {
			t.Fatal(err)
		}
		if tun.Name() != "vnetps0" || mode != platform.DNSModeNone {
			t.Fatalf("OpenTUN = %s, %s", tun.Name(), mode)
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
		assertNothingLeft(t, dir, "vnetps0")
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
		tun, err := platform.OpenTUN("vnetps1", 1500)
		if err != nil {
			t.Fatal(err)
		}
		defer tun.Close() // a descriptor an engine still holds
		if err := writeState(stateFile(dir, "vnetps1"), state{PID: dead.Process.Pid, Tun: "vnetps1", Rules: []platform.UIDRule{rule}, DNSMode: platform.DNSModeNone}); err != nil {
			t.Fatal(err)
		}
		if n, err := Recover(dir, nil); n != 1 || err != nil {
			t.Fatalf("Recover = %d, %v; want 1 undone", n, err)
		}
		assertNothingLeft(t, dir, "vnetps1")
	})
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
	if m, _ := filepath.Glob(filepath.Join(dir, "helper-*")); len(m) != 0 {
		t.Errorf("state files left: %v", m)
	}
}
