package privsep

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
)

// Listen makes the helper's socket at path (SOCK_SEQPACKET), replacing a
// stale one, readable and writable by uid and gid only (mode 0660): the
// socket's mode is the first gate, SO_PEERCRED (HelperConfig.Allow) the
// one that counts. path's folder must be root's.
func Listen(path string, uid, gid int) (*net.UnixListener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("helper socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err == nil {
		err = os.Chown(path, uid, gid)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("helper socket: %w", err)
	}
	return ln, nil
}

// ServeListener serves the engines that connect to ln, one after the
// other, until ctx ends; then it closes ln.
func (h *Helper) ServeListener(ctx context.Context, ln *net.UnixListener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("helper socket: %w", err)
		}
		if err := h.Serve(ctx, conn); err != nil {
			h.cfg.Logger.Warn("engine session ended", "err", err)
		}
	}
}
