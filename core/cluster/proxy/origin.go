package proxy

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
)

// Apps of cluster.yaml (metadata.origin: config) are changed in the file:
// the daemon stores them again at every start, so a change through the
// API would not last (issue 14).

// errDefinedInConfig refuses a change of the app name through the API;
// hint, if any, says how to go on.
func errDefinedInConfig(name, hint string) error {
	msg := fmt.Sprintf("app %q is defined in cluster.yaml: change it there", name)
	if hint != "" {
		msg += " (" + hint + ")"
	}
	return status.Error(codes.FailedPrecondition, msg)
}

// checkNotFromConfig refuses to remove an app of cluster.yaml, unless
// force: one that no cluster.yaml defines any more (with etcd, the other
// proxies' files may still).
func (c *admin) checkNotFromConfig(ctx context.Context, name string, force bool) error {
	if force {
		return nil
	}
	// One app read, not every app parsed (issue 13).
	a, err := c.state.App(ctx, name)
	if errors.Is(err, state.ErrNotFound) {
		return nil // the removal says so
	}
	if err != nil {
		return err
	}
	if a.Metadata.Origin == resource.OriginConfig {
		return errDefinedInConfig(name, "if no cluster.yaml defines it any more: vnet ctl rm --force app/"+name)
	}
	return nil
}
