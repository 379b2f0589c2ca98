package resource

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// RoleAdmin is the built-in role that may administer the cluster
// (vnet ctl). It is not a role resource and grants no apps; no role
// resource may take its name.
const RoleAdmin = "admin"

// Wildcard, as a label key and value ('*': '*'), matches every app; as a
// value it matches any value of a label the app has.
const Wildcard = "*"

// Role says which apps its holders may reach, by the apps' labels, in the
// shape of Teleport's roles:
//
//	kind: role
//	version: v1
//	metadata:
//	  name: dev
//	spec:
//	  allow:
//	    app_labels:
//	      env: [dev, staging]   # one value or a list
//	  deny:
//	    app_labels:
//	      team: payments
//
// A selector matches an app when every key matches (AND); a key matches
// when the app has that label with one of the listed values (OR), or any
// value for '*'. {'*': '*'} matches every app, labelled or not. An app is
// reachable when some role of the user allows it and none denies it: deny
// wins.
type Role struct {
	Header `yaml:",inline" json:",inline"`
	Spec   RoleSpec `yaml:"spec" json:"spec"`
}

// RoleSpec is the spec of a Role.
type RoleSpec struct {
	Allow RoleConditions `yaml:"allow,omitempty" json:"allow,omitzero"`
	Deny  RoleConditions `yaml:"deny,omitempty" json:"deny,omitzero"`
}

// RoleConditions are what an allow or deny block selects.
type RoleConditions struct {
	// AppLabels selects apps by their labels; empty selects none.
	AppLabels LabelSelector `yaml:"app_labels,omitempty" json:"app_labels,omitempty"`
}

// LabelSelector maps a label key to the values that match it.
type LabelSelector map[string]LabelValues

// LabelValues is one value or a list of values of a label.
type LabelValues []string

// scalarOrList tells the field checker that one value or a list of
// values are both fine.
func (LabelValues) scalarOrList() {}

// UnmarshalYAML accepts `env: dev` and `env: [dev, staging]`.
func (v *LabelValues) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*v = LabelValues{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*v = list
	return nil
}

// MarshalYAML writes one value as a scalar, more as a list.
func (v LabelValues) MarshalYAML() (any, error) {
	if len(v) == 1 {
		return v[0], nil
	}
	return []string(v), nil
}

// NewRole returns a role resource; call CheckAndSetDefaults to validate
// it.
func NewRole(name string, allow, deny LabelSelector) *Role {
	return &Role{
		Header: Header{KindField: KindRole, Version: V1, Metadata: Metadata{Name: name}},
		Spec:   RoleSpec{Allow: RoleConditions{AppLabels: allow}, Deny: RoleConditions{AppLabels: deny}},
	}
}

// Kind implements Resource.
func (r *Role) Kind() string { return KindRole }

// CheckAndSetDefaults implements Resource.
func (r *Role) CheckAndSetDefaults() error {
	if err := r.Header.check(KindRole); err != nil {
		return err
	}
	if r.Metadata.Name == RoleAdmin {
		return newError(KindRole, r.Metadata.Name, "metadata.name", "%q is the built-in administration role: choose another name", RoleAdmin)
	}
	for _, c := range []struct {
		field string
		sel   *LabelSelector
	}{
		{"spec.allow.app_labels", &r.Spec.Allow.AppLabels},
		{"spec.deny.app_labels", &r.Spec.Deny.AppLabels},
	} {
		if err := c.sel.check(KindRole, r.Metadata.Name, c.field); err != nil {
			return err
		}
	}
	return nil
}

// check validates a selector and normalises it: values sorted without
// duplicates, an empty selector nil.
func (s *LabelSelector) check(kind, name, field string) error {
	if len(*s) == 0 {
		*s = nil
		return nil
	}
	for _, k := range sortedKeys(*s) {
		f := fmt.Sprintf("%s[%q]", field, k)
		fail := func(format string, args ...any) error { return newError(kind, name, f, format, args...) }
		vals := (*s)[k]
		if k == "" {
			return newError(kind, name, field, "a label key is empty")
		}
		if k != Wildcard {
			if r, bad := firstBadLabelKeyRune(k); bad {
				return fail("the key contains %q: use letters, digits and '-', '_', '.', '/', ':' (or '*' for any label)", r)
			}
		}
		if len(vals) == 0 {
			return fail("no values: list at least one, or '*' for any value")
		}
		for _, v := range vals {
			switch {
			case v == "":
				return fail("an empty value matches no app: remove it, or use '*' for any value")
			case v != Wildcard && strings.Contains(v, Wildcard):
				return fail("%q: '*' matches whole values only; list the values, or use '*'", v)
			}
		}
		if k == Wildcard && (len(vals) != 1 || vals[0] != Wildcard) {
			return fail("the key '*' goes with the value '*' ('*': '*' matches every app)")
		}
		(*s)[k] = sortedUnique(vals)
	}
	return nil
}

// Matches reports whether an app with labels is selected. An empty
// selector selects nothing.
func (s LabelSelector) Matches(labels map[string]string) bool {
	if len(s) == 0 {
		return false
	}
	for k, vals := range s {
		if k == Wildcard {
			continue // '*': '*'
		}
		v, ok := labels[k]
		if !ok || !(slices.Contains(vals, Wildcard) || slices.Contains(vals, v)) {
			return false
		}
	}
	return true
}

// AllowsApp decides for a set of roles whether an app with labels may be
// reached: some role allows it and none denies it.
func AllowsApp(roles []*Role, labels map[string]string) bool {
	allowed := false
	for _, r := range roles {
		if r.Spec.Deny.AppLabels.Matches(labels) {
			return false
		}
		allowed = allowed || r.Spec.Allow.AppLabels.Matches(labels)
	}
	return allowed
}

// PresetRoles are the roles a new cluster starts with, so that the
// quickstart (`vnet ctl users add alice --roles=dev`) works before any
// role is written: access and dev both allow every app. Narrow dev with
// `vnet ctl edit role/dev` (e.g. to env: dev).
func PresetRoles() []*Role {
	all := func() LabelSelector { return LabelSelector{Wildcard: {Wildcard}} }
	return []*Role{NewRole("access", all(), nil), NewRole("dev", all(), nil)}
}
