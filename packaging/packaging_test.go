package packaging

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/agent"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// TestExamplesParse loads every sample config through the parser the
// daemon, the agent or `vnet ctl create` uses, so a sample cannot drift
// from what the code accepts.
func TestExamplesParse(t *testing.T) {
	cluster, err := config.Load("examples/cluster.yaml")
	if err != nil {
		t.Fatalf("examples/cluster.yaml: %v", err)
	}
	if apps, err := cluster.StaticApps(); err != nil || len(apps) == 0 {
		t.Errorf("examples/cluster.yaml serves %d apps (%v), want some", len(apps), err)
	}
	if cluster.DataDir != "/var/lib/vnet" {
		t.Errorf("examples/cluster.yaml: data_dir %q, want /var/lib/vnet (the unit's ReadWritePaths)", cluster.DataDir)
	}

	ag, err := agent.LoadConfig("examples/agent.yaml")
	if err != nil {
		t.Fatalf("examples/agent.yaml: %v", err)
	}
	if apps, err := ag.AppResources(); err != nil || len(apps) == 0 {
		t.Errorf("examples/agent.yaml serves %d apps (%v), want some", len(apps), err)
	}

	for file, kind := range map[string]string{"examples/role.yaml": "role", "examples/vnet-config.yaml": "vnet_config"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		r, err := resource.Parse(data)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if r.Kind() != kind {
			t.Errorf("%s: kind %q, want %q", file, r.Kind(), kind)
		}
	}
}

// unit is a systemd unit file: every key's values, in order.
type unit map[string][]string

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", path, line)
		}
		u[k] = append(u[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unit) one(k string) string {
	if v := u[k]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// TestUnits holds the units to the commands and paths the code uses, and
// to their hardening: only VNet's own unit gets CAP_NET_ADMIN.
func TestUnits(t *testing.T) {
	want := map[string]struct {
		exec      string
		writes    string // the state directory it may write
		netAdmin  bool
		stateDirs string
		wantedBy  string // "": multi-user.target; "-": none (socket-activated)
	}{
		"vnet-cluster.service": {exec: "/usr/local/bin/vnet cluster start --config " + config.DefaultPath, writes: "/var/lib/vnet", stateDirs: "vnet"},
		"vnet-agent.service":   {exec: "/usr/local/bin/vnet agent start --config /etc/vnet/agent.yaml", writes: agent.DefaultDataDir, stateDirs: "vnet-agent"},
		"vnet@.service":        {exec: "/usr/local/bin/vnet up", writes: "/var/lib/vnet/client", netAdmin: true, stateDirs: "vnet/client"},
		// The root helper for users who run `vnet up` themselves: started
		// by its socket, /run/vnet its only state.
		"vnet-helper.service": {exec: "/usr/local/bin/vnet helper --group vnet", writes: "-/etc/resolv.conf", netAdmin: true, wantedBy: "-"},
	}
	files, err := filepath.Glob("systemd/*.service")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("systemd/ holds %v, want the %d units this test knows", files, len(want))
	}
	for name, w := range want {
		u := readUnit(t, filepath.Join("systemd", name))
		if got := u.one("ExecStart"); got != w.exec {
			t.Errorf("%s: ExecStart=%s, want %s", name, got, w.exec)
		}
		wantedBy := map[string]string{"": "multi-user.target", "-": ""}[w.wantedBy]
		for k, v := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "StateDirectory": w.stateDirs, "WantedBy": wantedBy} {
			if got := u.one(k); got != v {
				t.Errorf("%s: %s=%s, want %s", name, k, got, v)
			}
		}
		if rw := strings.Fields(u.one("ReadWritePaths")); !slices.Contains(rw, w.writes) {
			t.Errorf("%s: ReadWritePaths=%v lacks %s", name, rw, w.writes)
		}
		caps := u.one("CapabilityBoundingSet") + " " + u.one("AmbientCapabilities")
		if got := strings.Contains(caps, "CAP_NET_ADMIN"); got != w.netAdmin {
			t.Errorf("%s: CAP_NET_ADMIN granted: %v, want %v", name, got, w.netAdmin)
		}
		if strings.Contains(caps, "CAP_SYS_ADMIN") {
			t.Errorf("%s grants CAP_SYS_ADMIN", name)
		}
		if !w.netAdmin && u.one("CapabilityBoundingSet") != "" {
			t.Errorf("%s: CapabilityBoundingSet=%s, want none", name, u.one("CapabilityBoundingSet"))
		}
	}
}

// TestMakeInstall runs `make install` into a staging root, as a packager
// would, and checks what lands where.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	dest := t.TempDir()
	cmd := exec.Command("make", "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/usr", "BIN="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	files := map[string]os.FileMode{
		"usr/bin/vnet": 0o755,
		"usr/lib/systemd/system/vnet-cluster.service":  0o644,
		"usr/lib/systemd/system/vnet-agent.service":    0o644,
		"usr/lib/systemd/system/vnet@.service":         0o644,
		"usr/lib/systemd/system/vnet-helper.service":   0o644,
		"usr/lib/systemd/system/vnet-helper.socket":    0o644,
		"usr/share/doc/vnet/examples/cluster.yaml":     0o644,
		"usr/share/doc/vnet/examples/agent.yaml":       0o644,
		"usr/share/doc/vnet/examples/role.yaml":        0o644,
		"usr/share/doc/vnet/examples/vnet-config.yaml": 0o644,
		"usr/share/doc/vnet/quickstart.md":             0o644,
		"usr/share/doc/vnet/admin.md":                  0o644,
		"usr/share/doc/vnet/user.md":                   0o644,
	}
	for f, mode := range files {
		st, err := os.Stat(filepath.Join(dest, f))
		if err != nil {
			t.Errorf("make install did not write %s: %v", f, err)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", f, st.Mode().Perm(), mode)
		}
	}
	// The units follow PREFIX: they start the binary that was installed.
	u := readUnit(t, filepath.Join(dest, "usr/lib/systemd/system/vnet-cluster.service"))
	if got := u.one("ExecStart"); !strings.HasPrefix(got, "/usr/bin/vnet cluster start") {
		t.Errorf("installed unit: ExecStart=%s, want /usr/bin/vnet cluster start ...", got)
	}
	out, err := exec.Command(filepath.Join(dest, "usr/bin/vnet"), "help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "vnet cluster start") {
		t.Errorf("the installed vnet help: %v\n%s", err, out)
	}
	// Nothing outside PREFIX: a packager's root holds only usr/.
	entries, err := os.ReadDir(dest)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "usr" {
		t.Errorf("make install wrote outside PREFIX: %v", entries)
	}
}

// TestUnitsVerify runs `systemd-analyze verify` (it needs no running
// systemd) on the units as `make install` writes them, with PREFIX in a
// temporary folder so that their ExecStart binary exists: an unknown key,
// a bad value or a missing command is a finding, and any finding fails
// (systemd-analyze itself exits 0 on most of them).
func TestUnitsVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze (the systemd package)")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	prefix := t.TempDir()
	if out, err := exec.Command("make", "-C", "..", "install", "PREFIX="+prefix, "BIN="+t.TempDir()).CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	units, err := filepath.Glob(filepath.Join(prefix, "lib/systemd/system/*"))
	if err != nil || len(units) < 5 {
		t.Fatalf("installed units: %v, %v", units, err)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
