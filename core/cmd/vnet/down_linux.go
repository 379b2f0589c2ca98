package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/vnetproject/vnet/core/platform"
	"github.com/vnetproject/vnet/core/privsep"
)

// runDown stops the running VNet (SIGTERM: it undoes its changes), or,
// when none runs, undoes what a VNet that died left behind: its helper's
// routing rules and device, its resolv.conf. It never starts VNet.
func runDown(ctx context.Context, args []string) error {
	fs := newFlags("down")
	stateDir := fs.String("state-dir", defaultStateDir, "the state directory of the VNet to stop")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if pid := runningPID(*stateDir); pid > 0 {
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			if errors.Is(err, syscall.EPERM) {
				return fmt.Errorf("VNet (pid %d) runs as root: run 'sudo vnet down'", pid)
			}
			return fmt.Errorf("stop VNet (pid %d): %w", pid, err)
		}
		// It restores the network settings, then exits and its lock goes.
		deadline := time.Now().Add(30 * time.Second)
		for runningPID(*stateDir) == pid {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("VNet (pid %d) has not stopped after SIGTERM: see its log", pid)
			}
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Fprintf(stdout, "VNet (pid %d) stopped; network settings restored.\n", pid)
		return nil
	}
	// What the helper of a VNet killed with -9 left, as its state file
	// lists it: routing rules, the device (if an engine still holds it),
	// the resolver settings.
	if os.Geteuid() == 0 {
		n, err := privsep.Recover(privsep.DefaultStateDir, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		if n > 0 {
			fmt.Fprintln(stdout, "VNet is not running; undid what a VNet that stopped without cleaning up had left (its routing rules, device and resolver settings).")
			return nil
		}
	}
	path := platform.DefaultResolvConfPath
	if pid, stale := platform.StaleResolvConf(path); stale {
		if os.Geteuid() != 0 {
			return fmt.Errorf("%s still points at a VNet (pid %d) that stopped without cleaning up: run 'sudo vnet down' to restore it", path, pid)
		}
		if err := platform.RestoreStale(path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "VNet is not running; restored %s, which a VNet (pid %d) that stopped without cleaning up had left pointing at it.\n", path, pid)
		return nil
	}
	fmt.Fprintln(stdout, "VNet is not running, and left nothing to undo.")
	return nil
}

// staleResolver is the problem a VNet that died left in the resolver
// configuration, or "".
func staleResolver() string {
	path := platform.DefaultResolvConfPath
	if pid, stale := platform.StaleResolvConf(path); stale {
		return fmt.Sprintf("%s still points at a VNet (pid %d) that stopped without cleaning up, so names may not resolve: run 'sudo vnet down' to restore it", path, pid)
	}
	return ""
}
