package proxy

import (
	"context"
	"fmt"
	"net"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

// dialApp reaches app's target. For now the proxy dials the app's uri
// itself; agents (reverse tunnels) come later. target names what was
// dialled, for the audit log.
func (s *Server) dialApp(ctx context.Context, app *resource.App) (conn net.Conn, target string, err error) {
	target = app.Spec.DialAddr()
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	conn, err = s.cfg.DialApp(dctx, "tcp", target)
	if err != nil {
		return nil, target, fmt.Errorf("app %q at %s: %w", app.Name(), target, err)
	}
	return conn, target, nil
}
