package resource

import (
	"fmt"
	"regexp"
	"time"
)

// User is a person known to the cluster, as an administrator sees and
// edits them. The Auth Service keeps users with their secrets (password
// hash); this resource is the part an administrator may read and change:
// the roles.
//
//	kind: user
//	version: v1
//	metadata:
//	  name: alice
//	spec:
//	  roles: [dev]
//	status:              # read-only: ignored when written
//	  created: 2025-01-02T03:04:05Z
//	  password_set: true
type User struct {
	Header `yaml:",inline" json:",inline"`
	Spec   UserSpec    `yaml:"spec" json:"spec"`
	Status *UserStatus `yaml:"status,omitempty" json:"status,omitempty"`
}

// UserSpec is the spec of a User.
type UserSpec struct {
	// Roles are role resource names or RoleAdmin, sorted, no duplicates.
	Roles []string `yaml:"roles,omitempty" json:"roles,omitempty"`
}

// UserStatus is what the cluster reports about a user; it cannot be set.
type UserStatus struct {
	Created     time.Time `yaml:"created" json:"created"`
	PasswordSet bool      `yaml:"password_set" json:"password_set"`
}

// userNameRE is the form of a new user's name. It has no '@': a root
// cluster's user is "user@cluster" on its leaves, which a name with an
// '@' of its own would make ambiguous in their audits.
var userNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// existingUserNameRE is userNameRE with the '@' that names created before
// it was refused may hold: such users keep working (edit, remove, log in).
var existingUserNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

const userNameRule = "use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"

// CheckUserName returns an error if name cannot be a new user's name.
func CheckUserName(name string) error {
	if !userNameRE.MatchString(name) {
		if existingUserNameRE.MatchString(name) {
			return fmt.Errorf("user name %q: %s (no '@': on a leaf cluster a user is shown as user@cluster)", clipEcho(name), userNameRule)
		}
		return fmt.Errorf("user name %q: %s", clipEcho(name), userNameRule)
	}
	return nil
}

// NewUser returns a user resource; call CheckAndSetDefaults to validate
// it.
func NewUser(name string, roles []string) *User {
	return &User{
		Header: Header{KindField: KindUser, Version: V1, Metadata: Metadata{Name: name}},
		Spec:   UserSpec{Roles: roles},
	}
}

// Kind implements Resource.
func (u *User) Kind() string { return KindUser }

// CheckAndSetDefaults implements Resource. It checks the form of the
// role names; whether they exist is for the cluster to check.
func (u *User) CheckAndSetDefaults() error {
	if err := u.Header.checkNamed(KindUser, func(name string) string {
		// Existing names too: a user is created by the Auth Service,
		// which applies CheckUserName.
		if !existingUserNameRE.MatchString(name) {
			return "is not a user name: " + userNameRule
		}
		return ""
	}); err != nil {
		return err
	}
	roles, err := NormalizeRoleNames(u.Spec.Roles)
	if err != nil {
		return newError(KindUser, u.Metadata.Name, "spec.roles", "%s", err)
	}
	u.Spec.Roles = roles
	return nil
}

// NormalizeRoleNames checks that each name can name a role and returns
// them sorted without duplicates (nil for none).
func NormalizeRoleNames(roles []string) ([]string, error) {
	var out []string
	for _, r := range roles {
		if reason := checkResourceName(r); reason != "" || r == "" {
			if r == "" {
				reason = "is empty"
			}
			return nil, fmt.Errorf("role name %q %s", r, reason)
		}
		out = append(out, r)
	}
	return sortedUnique(out), nil
}
