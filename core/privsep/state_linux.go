package privsep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vnetproject/vnet/core/atomicfile"
	"github.com/vnetproject/vnet/core/platform"
)

// DefaultStateDir is where the helper keeps its state files: root's, in
// /run, so that a reboot (which undoes everything anyway) clears them.
const DefaultStateDir = "/run/vnet"

// state lists what one helper session changed in the OS. It is written
// before each change, so that whatever a crash interrupts, the next start
// (or `vnet down`) finds everything that may be left over.
type state struct {
	// PID is the helper's; while it runs the state is its own.
	PID int `json:"pid"`
	// Tun is the device; its routes and addresses go with it.
	Tun string `json:"tun"`
	// Rules are the policy rules sent the user's traffic to VNet's table.
	Rules []platform.UIDRule `json:"rules,omitempty"`
	// NftTable is the device's guard (platform.DeviceGuard), if nft made it.
	NftTable string `json:"nft_table,omitempty"`
	// DNSMode and ResolvConf say where the resolver settings are: the
	// resolv.conf file carries its own original (platform.RestoreStale);
	// systemd-resolved forgets a device's settings when it goes.
	DNSMode    string `json:"dns_mode"`
	ResolvConf string `json:"resolv_conf,omitempty"`
}

// netnsTag names the network namespace this process runs in: /run is
// shared between namespaces, and a state file speaks of one namespace's
// devices and rules only.
func netnsTag() string {
	var ino uint64
	if fi, err := os.Stat("/proc/self/ns/net"); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
	}
	return fmt.Sprintf("net%d", ino)
}

// stateFile is the path of the state for device tun in this namespace.
func stateFile(dir, tun string) string {
	return filepath.Join(dir, "helper-"+netnsTag()+"-"+tun+".json")
}

func writeState(path string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("helper state: %w", err)
	}
	return nil
}

// readState reads a state file as root must: no symlink, owned by root.
func readState(path string) (state, error) {
	var st state
	f, err := OpenNoFollow(path, 0)
	if err != nil {
		return st, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMessage))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// undo removes what st lists: the rules, the device (with its routes and
// addresses), its guard, and the resolver configuration the helper wrote.
func undo(st state, log *slog.Logger) error {
	var errs []error
	for _, r := range st.Rules {
		errs = append(errs, platform.DelUIDRule(r))
	}
	if st.Tun != "" {
		errs = append(errs, platform.DeleteLink(st.Tun))
	}
	if st.NftTable != "" {
		errs = append(errs, platform.DeleteGuard(context.Background(), st.NftTable))
	}
	if st.DNSMode == platform.DNSModeResolvConf && st.ResolvConf != "" {
		// Restores only a file whose writer is dead.
		errs = append(errs, platform.RestoreStale(st.ResolvConf))
	}
	err := errors.Join(errs...)
	if err == nil {
		log.Info("undid what a VNet that stopped without cleaning up had left", "pid", st.PID, "tun", st.Tun, "rules", len(st.Rules))
	}
	return err
}

// ErrHelperRunning means a state file belongs to a helper that is still
// running: its changes are in use and stay.
var ErrHelperRunning = errors.New("VNet's helper is running")

// Recover undoes what helpers that died (kill -9, a crash) left in this
// network namespace, as their state files in dir list it, removes the
// files, and returns how many it undid. It skips (and reports with
// ErrHelperRunning) a helper that still runs. Nothing to recover is not an
// error.
func Recover(dir string, log *slog.Logger) (int, error) {
	if log == nil {
		log = slog.Default()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("helper state: %w", err)
	}
	undone := 0
	prefix := "helper-" + netnsTag() + "-"
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(dir, name)
		st, err := readState(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.PID == os.Getpid() {
			continue
		}
		if platform.ProcessAlive(st.PID) {
			errs = append(errs, fmt.Errorf("%w (pid %d, device %s)", ErrHelperRunning, st.PID, st.Tun))
			continue
		}
		if err := undo(st, log); err != nil {
			errs = append(errs, err)
			continue
		}
		os.Remove(path)
		undone++
	}
	return undone, errors.Join(errs...)
}
