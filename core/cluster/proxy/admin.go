package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/appcache"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
)

// admin is the part of the proxy that serves the administration calls
// (admin role only, see policies in policy.go): resources of every kind,
// users, join tokens (tokens.go) and the audit log. Users are a resource
// kind backed by the Auth Service (their secrets stay there); the other
// kinds live in the state store. Agents' and leaves' own administration
// is theirs (agentadmin.go, leafadmin.go).
type admin struct {
	log      *slog.Logger
	auth     *auth.Service
	state    *state.State
	auditLog AuditLog // nil: this proxy keeps no audit log
	audit    *auditor
	rbac     *rbac
	sessions *sessionSet     // a write cuts the streams it no longer allows
	agents   *agents         // their refused claims; app writes wait for their registrations
	leaves   *leaves         // remote_cluster, trusted_cluster
	cache    *appcache.Cache // apps by name and address, for the claims' checks; never nil
}

func (c *admin) createResource(ctx context.Context, req *api.CreateResourceRequest) (*api.CreateResourceResponse, error) {
	r, err := resource.Parse(req.GetYaml())
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.CreateResourceResponse{Kind: r.Kind(), Name: r.Name()}
	switch r := r.(type) {
	case *resource.User:
		err = c.createUser(ctx, r, req.GetForce(), out)
	case *resource.TrustedCluster:
		if err = c.leaves.checkRoleMap(ctx, r); err == nil {
			out.Created, err = c.state.Create(ctx, r, req.GetForce())
		}
	case *resource.RemoteCluster:
		err = c.leaves.setRemoteCluster(ctx, r, req.GetForce()) // leaves.go
	case *resource.App:
		out.Created, err = c.createApp(ctx, r, req.GetForce())
	default:
		out.Created, err = c.state.Create(ctx, r, req.GetForce())
	}
	if err != nil {
		return nil, grpcError(err)
	}
	cut := 0
	switch r.Kind() {
	case resource.KindUser, resource.KindRole, resource.KindApp:
		// A user's roles, a role's labels or an app's labels changed:
		// the streams they no longer allow end before this call returns
		// (sessions.go).
		cut = c.sessions.recheckNow()
	}
	id, _ := identityFrom(ctx)
	c.log.Info("resource written", "kind", r.Kind(), "name", r.Name(), "created", out.Created, "by", id.User, "sessions_closed", cut)
	return out, nil
}

// createApp stores an app of the cluster's own after the creation rules:
// a DNS-label name unless it has a public_addr, and an address no other
// app holds (the app stored first keeps it). With force it replaces an
// app of the same name, an agent's too: the administrator may.
func (c *admin) createApp(ctx context.Context, app *resource.App, force bool) (bool, error) {
	refuse := func(err error) (bool, error) {
		id, _ := identityFrom(ctx)
		c.audit.claimRefused(id.User, claimRefusal{App: app.Name(), Reason: err.Error()})
		return false, err
	}
	if err := app.CheckNew(); err != nil {
		return refuse(err)
	}
	c.agents.registry.mu.Lock()
	defer c.agents.registry.mu.Unlock()
	// Checked against the catalog cache (its index by address), not by
	// parsing every stored app (issue 13); the cache has caught up with
	// the last claim written through this proxy (claims.go).
	if err := c.cache.Ready(ctx); err != nil {
		return false, err
	}
	if old := c.cache.App(app.Name()); old != nil && old.Metadata.Origin == resource.OriginConfig {
		// Overwritten here, it would come back at the next start.
		return false, errDefinedInConfig(app.Name(), "")
	}
	if err := c.cache.CheckAddrFree(app); err != nil {
		return refuse(err)
	}
	created, err := c.state.Create(ctx, app, force)
	if err == nil {
		c.catchUp(ctx)
	}
	return created, err
}

// createUser adds a user (and returns their sign-up token in out) or,
// with force, replaces an existing user's roles.
func (c *admin) createUser(ctx context.Context, u *resource.User, force bool, out *api.CreateResourceResponse) error {
	if err := c.rbac.checkRolesExist(ctx, u.Spec.Roles); err != nil {
		return err
	}
	_, err := c.auth.GetUser(ctx, u.Name())
	switch {
	case errors.Is(err, auth.ErrUnknownUser):
		token, expires, err := c.auth.AddUser(ctx, u.Name(), u.Spec.Roles)
		if err != nil {
			return err
		}
		out.Created, out.SignupToken, out.SignupTokenExpiresUnix = true, token, expires.Unix()
		return nil
	case err != nil:
		return err
	case !force:
		return fmt.Errorf("user %q already exists: use -f to overwrite, or 'vnet ctl edit user/%s'", u.Name(), u.Name())
	default:
		return c.auth.SetRoles(ctx, u.Name(), u.Spec.Roles)
	}
}

func (c *admin) getResources(ctx context.Context, req *api.GetResourcesRequest) (*api.GetResourcesResponse, error) {
	kind, name := req.GetKind(), req.GetName()
	var (
		rs  []resource.Resource
		err error
	)
	switch {
	case !resource.IsKind(kind):
		return nil, status.Errorf(codes.InvalidArgument, "unknown kind %q (one of %s)", kind, resource.Kinds())
	case kind == resource.KindVNetConfig:
		var cfg *resource.VNetConfig
		cfg, err = c.state.VNetConfig(ctx)
		rs = []resource.Resource{cfg}
	case kind == resource.KindUser:
		rs, err = c.users(ctx, name)
	case kind == resource.KindRemoteCluster:
		rs, err = c.leaves.remoteClusters(ctx, name) // leaves.go
	case name != "":
		var r resource.Resource
		r, err = c.state.Get(ctx, kind, name)
		rs = []resource.Resource{r}
	default:
		rs, err = c.state.List(ctx, kind)
	}
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.GetResourcesResponse{}
	if kind == resource.KindApp {
		if out.Refused, err = c.agents.refusedClaims(ctx, name); err != nil {
			return nil, grpcError(err)
		}
	}
	for _, r := range rs {
		data, err := resource.Marshal(r)
		if err != nil {
			return nil, grpcError(err)
		}
		out.Yaml = append(out.Yaml, data)
	}
	return out, nil
}

// users returns the named user, or all, as resources.
func (c *admin) users(ctx context.Context, name string) ([]resource.Resource, error) {
	var us []auth.User
	if name != "" {
		u, err := c.auth.GetUser(ctx, name)
		if errors.Is(err, auth.ErrUnknownUser) {
			return nil, fmt.Errorf("user %q: %w", name, auth.ErrNoSuchResource)
		}
		if err != nil {
			return nil, err
		}
		us = []auth.User{u}
	} else {
		var err error
		if us, err = c.auth.ListUsers(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]resource.Resource, 0, len(us))
	for _, u := range us {
		r := resource.NewUser(u.Name, u.Roles)
		r.Status = &resource.UserStatus{Created: u.Created, PasswordSet: len(u.PasswordHash) > 0}
		out = append(out, r)
	}
	return out, nil
}

func (c *admin) deleteResource(ctx context.Context, req *api.DeleteResourceRequest) (*api.DeleteResourceResponse, error) {
	kind, name := req.GetKind(), req.GetName()
	out := &api.DeleteResourceResponse{}
	var err error
	switch kind {
	case resource.KindVNetConfig:
		// Removing the one vnet_config means going back to the default.
		if err = c.state.Delete(ctx, kind, resource.VNetConfigName); errors.Is(err, state.ErrNotFound) {
			err = nil
		}
	case resource.KindUser:
		if err = c.auth.RemoveUser(ctx, name); err == nil {
			out.SessionsClosed = int32(c.sessions.cutUser(name))
		}
	case resource.KindRole:
		if name == resource.RoleAdmin {
			err = fmt.Errorf("role %q is built in and cannot be removed", name)
		} else if err = c.rbac.checkRoleUnused(ctx, name); err == nil {
			err = c.state.Delete(ctx, kind, name)
		}
	case resource.KindApp:
		if err = c.checkNotFromConfig(ctx, name, req.GetForce()); err == nil {
			err = c.deleteApp(ctx, name)
		}
	case resource.KindTrustedCluster:
		err = c.state.Delete(ctx, kind, name)
	case resource.KindRemoteCluster:
		err = c.leaves.remove(ctx, name) // leaves.go
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown kind %q (one of %s)", kind, resource.Kinds())
	}
	if err != nil {
		return nil, grpcError(err)
	}
	id, _ := identityFrom(ctx)
	c.log.Info("resource removed", "kind", kind, "name", name, "by", id.User, "sessions_closed", out.SessionsClosed)
	return out, nil
}

func (c *admin) addUser(ctx context.Context, req *api.AddUserRequest) (*api.AddUserResponse, error) {
	if err := c.rbac.checkRolesExist(ctx, req.GetRoles()); err != nil {
		return nil, grpcError(err)
	}
	token, expires, err := c.auth.AddUser(ctx, req.GetName(), req.GetRoles())
	if err != nil {
		return nil, grpcError(err)
	}
	return &api.AddUserResponse{Token: token, TokenExpiresUnix: expires.Unix()}, nil
}

func (c *admin) searchAudit(ctx context.Context, req *api.SearchAuditRequest) (*api.SearchAuditResponse, error) {
	if c.auditLog == nil {
		return nil, status.Error(codes.Unavailable, "this proxy keeps no audit log")
	}
	q := audit.Query{User: req.GetUser(), App: req.GetApp(), Limit: int(req.GetLimit())}
	if n := req.GetSinceUnixNano(); n > 0 {
		q.Since = time.Unix(0, n)
	}
	if n := req.GetUntilUnixNano(); n > 0 {
		q.Until = time.Unix(0, n)
	}
	evs, err := c.auditLog.Search(ctx, q)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.SearchAuditResponse{}
	for _, ev := range evs {
		data, err := json.Marshal(ev)
		if err != nil {
			return nil, grpcError(err)
		}
		out.EventsJson = append(out.EventsJson, data)
	}
	return out, nil
}
