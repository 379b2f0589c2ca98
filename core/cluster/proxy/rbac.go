package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// rbac decides what users' roles allow. Roles are read from the state
// store at every call, so a role written with `vnet ctl create -f`
// applies to the next dial or catalog pass without a new login; each
// stored version of a role is parsed once (records.go).
type rbac struct {
	cluster string
	state   *state.State  // roles
	records *records      // the roles as stored now, parsed once per version
	auth    *auth.Service // users holding a role
}

// authorize decides whether id may connect to app: some role of the user
// allows the app's labels and none denies them (resource.AllowsApp). The
// roles are read from the store at every call, so a role written with
// `vnet ctl create -f` applies to the next dial without a new login; id's
// role names come from the user's stored record (auth.Authenticate).
func (rb *rbac) authorize(ctx context.Context, id auth.Identity, app *resource.App) error {
	roles, err := rb.rolesOf(ctx, id.Roles)
	if err != nil {
		return err
	}
	if !resource.AllowsApp(roles, app.Metadata.Labels) {
		return fmt.Errorf("%w: user %q may not reach app %q in cluster %s (roles: %s)",
			auth.ErrAccessDenied, id.User, app.Name(), rb.cluster, roleList(id.Roles))
	}
	return nil
}

// rolesOf loads the named role resources. The built-in admin role and
// names without a role resource grant nothing.
func (rb *rbac) rolesOf(ctx context.Context, names []string) ([]*resource.Role, error) {
	var out []*resource.Role
	for _, name := range names {
		if name == resource.RoleAdmin {
			continue
		}
		role, err := rb.records.role(ctx, name)
		if errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load role %q: %w", name, err)
		}
		out = append(out, role)
	}
	return out, nil
}

// checkRolesExist returns an error naming the first of names that is
// neither the admin role nor a role resource: a typo in --roles would
// otherwise grant nothing, silently.
func (rb *rbac) checkRolesExist(ctx context.Context, names []string) error {
	for _, name := range names {
		if name == resource.RoleAdmin {
			continue
		}
		_, err := rb.state.Get(ctx, resource.KindRole, name)
		if errors.Is(err, state.ErrNotFound) {
			known, lerr := rb.roleNames(ctx)
			if lerr != nil {
				return lerr
			}
			return fmt.Errorf("role %q does not exist (roles: %s): create it first with 'vnet ctl create'", name, roleList(known))
		}
		if err != nil {
			return fmt.Errorf("load role %q: %w", name, err)
		}
	}
	return nil
}

// roleNames is every role a user may be given, the admin role included.
func (rb *rbac) roleNames(ctx context.Context) ([]string, error) {
	rs, err := rb.state.List(ctx, resource.KindRole)
	if err != nil {
		return nil, err
	}
	names := []string{resource.RoleAdmin}
	for _, r := range rs {
		names = append(names, r.Name())
	}
	slices.Sort(names)
	return names, nil
}

// checkRoleUnused refuses to delete a role some user still has.
func (rb *rbac) checkRoleUnused(ctx context.Context, role string) error {
	users, err := rb.auth.ListUsers(ctx)
	if err != nil {
		return err
	}
	var holders []string
	for _, u := range users {
		if slices.Contains(u.Roles, role) {
			holders = append(holders, u.Name)
		}
	}
	if len(holders) > 0 {
		return fmt.Errorf("role %q is held by %s: take it from them first ('vnet ctl edit user/NAME')", role, strings.Join(holders, ", "))
	}
	return nil
}

func roleList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// presetsKey marks a store in which the preset roles have been created,
// so that an administrator who removes one does not see it come back at
// the next start.
const presetsKey = "/resources-presets/v1"

// SeedPresetRoles creates resource.PresetRoles the first time a cluster's
// store is used with roles. Presets an administrator already created
// (same name) are left as they are.
func SeedPresetRoles(ctx context.Context, st store.Store, res *state.State) error {
	_, err := st.Get(ctx, presetsKey)
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("preset roles: %w", err)
	}
	for _, r := range resource.PresetRoles() {
		if _, err := res.Create(ctx, r, false); err != nil {
			// Already there (created by hand, or by another proxy just
			// now) is fine; anything else is not.
			if _, gerr := res.Get(ctx, resource.KindRole, r.Name()); gerr != nil {
				return fmt.Errorf("preset role %q: %w", r.Name(), err)
			}
		}
	}
	if err := st.Create(ctx, presetsKey, []byte("v1")); err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("preset roles: %w", err)
	}
	return nil
}
