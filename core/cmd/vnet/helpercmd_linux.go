package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/vnetproject/vnet/core/platform"
	"github.com/vnetproject/vnet/core/privsep"
)

// runHelper is `vnet helper`: VNet's root helper as a service
// (packaging/systemd/vnet-helper.socket), for users who run `vnet up`
// themselves, without sudo. It serves one engine at a time, of a member of
// --group.
func runHelper(ctx context.Context, args []string) error {
	fs := newFlags("helper")
	group := fs.String("group", "vnet", "the group whose members may run VNet")
	sock := fs.String("socket", privsep.DefaultSocket, "the socket to listen on, unless systemd passes one")
	dnsMode := fs.String("dns-mode", "auto", "how to send DNS to VNet (see 'vnet up -h')")
	lf := addLogFlags(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if err := lf.check("helper"); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("vnet helper needs root: it is run by systemd (vnet-helper.socket)")
	}
	log := lf.logger(os.Stderr, false)
	g, err := user.LookupGroup(*group)
	if err != nil {
		return fmt.Errorf("group %s: %w (create it and add VNet's users to it)", *group, err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	if *dnsMode == "auto" {
		*dnsMode = platform.DetectDNSMode(platform.DefaultResolvConfPath)
	}
	if err := platform.RestoreStale(platform.DefaultResolvConfPath); err != nil {
		return err
	}
	if err := rootDir(privsep.DefaultStateDir); err != nil {
		return err
	}
	if _, err := privsep.Recover(privsep.DefaultStateDir, log); err != nil {
		return err
	}
	h, err := privsep.NewHelper(privsep.HelperConfig{
		Allow:    allowGroup(g.Gid),
		DNSMode:  *dnsMode,
		StateDir: privsep.DefaultStateDir,
		Logger:   log,
		Opened:   trimMemory, // uptrim_linux.go: the start-up's memory back before the engine's first load
	})
	if err != nil {
		return err
	}
	ln, err := helperListener(*sock, gid)
	if err != nil {
		return err
	}
	log.Info("VNet's helper is listening", "socket", ln.Addr(), "group", *group, "dns_mode", *dnsMode)
	go trimWhenIdle(ctx) // uptrim_linux.go: the helper is mostly idle
	return h.ServeListener(ctx, ln)
}

// allowGroup serves the processes of the group's members (primary or
// supplementary), as the user database says, not as the peer says.
func allowGroup(gid string) func(*unix.Ucred) error {
	return func(c *unix.Ucred) error {
		u, err := user.LookupId(strconv.Itoa(int(c.Uid)))
		if err != nil {
			return fmt.Errorf("%w: uid %d: %v", privsep.ErrPeerRefused, c.Uid, err)
		}
		ids, err := u.GroupIds()
		if err != nil {
			return fmt.Errorf("%w: groups of %s: %v", privsep.ErrPeerRefused, u.Username, err)
		}
		if u.Gid != gid && !slices.Contains(ids, gid) {
			return fmt.Errorf("%w: %s is not in VNet's group (gid %s)", privsep.ErrPeerRefused, u.Username, gid)
		}
		return nil
	}
}

// helperListener is the socket systemd passes (socket activation: fd 3),
// or one made at path for root and gid.
func helperListener(path string, gid int) (*net.UnixListener, error) {
	if os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) && os.Getenv("LISTEN_FDS") == "1" {
		f := os.NewFile(3, "systemd socket")
		defer f.Close()
		ln, err := net.FileListener(f)
		if err != nil {
			return nil, fmt.Errorf("socket from systemd: %w", err)
		}
		ul, ok := ln.(*net.UnixListener)
		if !ok {
			ln.Close()
			return nil, errors.New("socket from systemd is not a Unix socket (want ListenSequentialPacket=)")
		}
		return ul, nil
	}
	return privsep.Listen(path, 0, gid)
}
