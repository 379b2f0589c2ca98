package resource

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// roleYAML returns a role document named dev with the given spec body.
func roleYAML(spec string) string {
	return "kind: role\nversion: v1\nmetadata:\n  name: dev\nspec:\n" + spec
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Role
	}{
		{
			name: "one value",
			in:   roleYAML("  allow:\n    app_labels:\n      env: dev\n"),
			want: NewRole("dev", LabelSelector{"env": {"dev"}}, nil),
		},
		{
			name: "a list of values is sorted and deduplicated",
			in:   roleYAML("  allow:\n    app_labels:\n      env: [staging, dev, dev]\n"),
			want: NewRole("dev", LabelSelector{"env": {"dev", "staging"}}, nil),
		},
		{
			name: "every app, and a deny",
			in:   roleYAML("  allow:\n    app_labels: {'*': '*'}\n  deny:\n    app_labels:\n      env: prod\n      team: '*'\n"),
			want: NewRole("dev", LabelSelector{"*": {"*"}}, LabelSelector{"env": {"prod"}, "team": {"*"}}),
		},
		{
			name: "no spec grants nothing",
			in:   "kind: role\nversion: v1\nmetadata: {name: dev}\n",
			want: NewRole("dev", nil, nil),
		},
		{
			name: "empty selector is no selector",
			in:   roleYAML("  allow: {app_labels: {}}\n"),
			want: NewRole("dev", nil, nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantParsed(t, tt.in, tt.want) })
	}
}

func TestParseRoleInvalid(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"reserved name", "kind: role\nversion: v1\nmetadata: {name: admin}\n", `role "admin": metadata.name: "admin" is the built-in administration role`},
		{"unknown block", roleYAML("  permit: {}\n"), `role "dev": spec.permit: unknown field (known: allow, deny)`},
		{"unknown condition", roleYAML("  allow: {node_labels: {a: b}}\n"), `spec.allow.node_labels: unknown field (known: app_labels)`},
		{"labels as a list", roleYAML("  allow: {app_labels: [env]}\n"), `spec.allow.app_labels: expected a mapping, got a list`},
		{"value is a mapping", roleYAML("  allow: {app_labels: {env: {a: b}}}\n"), `spec.allow.app_labels["env"]: expected a value or a list of values, got a mapping`},
		{"list item is a list", roleYAML("  deny: {app_labels: {env: [[a]]}}\n"), `spec.deny.app_labels["env"][0]: expected a single value, got a list`},
		{"no values", roleYAML("  allow: {app_labels: {env: []}}\n"), `spec.allow.app_labels["env"]: no values`},
		{"empty value", roleYAML("  allow: {app_labels: {env: ''}}\n"), `spec.allow.app_labels["env"]: an empty value matches no app`},
		{"partial wildcard", roleYAML("  allow: {app_labels: {env: 'dev-*'}}\n"), `spec.allow.app_labels["env"]: "dev-*": '*' matches whole values only`},
		{"wildcard key with a value", roleYAML("  deny: {app_labels: {'*': prod}}\n"), `spec.deny.app_labels["*"]: the key '*' goes with the value '*'`},
		{"bad key", roleYAML("  allow: {app_labels: {'e nv': dev}}\n"), `spec.allow.app_labels["e nv"]: the key contains ' '`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line containing %q", err, tt.want)
			}
		})
	}
}

func TestRoleMatching(t *testing.T) {
	dev := map[string]string{"env": "dev", "team": "db"}
	prod := map[string]string{"env": "prod", "team": "db"}
	none := map[string]string(nil)
	tests := []struct {
		name   string
		roles  []*Role
		labels map[string]string
		want   bool
	}{
		{"no roles", nil, dev, false},
		{"matching value", []*Role{NewRole("r", LabelSelector{"env": {"dev"}}, nil)}, dev, true},
		{"other value", []*Role{NewRole("r", LabelSelector{"env": {"dev"}}, nil)}, prod, false},
		{"one of the values", []*Role{NewRole("r", LabelSelector{"env": {"dev", "prod"}}, nil)}, prod, true},
		{"every key must match", []*Role{NewRole("r", LabelSelector{"env": {"dev"}, "team": {"web"}}, nil)}, dev, false},
		{"any value of a present label", []*Role{NewRole("r", LabelSelector{"team": {"*"}}, nil)}, dev, true},
		{"any value needs the label", []*Role{NewRole("r", LabelSelector{"team": {"*"}}, nil)}, none, false},
		{"'*': '*' matches an unlabelled app", []*Role{NewRole("r", LabelSelector{"*": {"*"}}, nil)}, none, true},
		{"empty allow grants nothing", []*Role{NewRole("r", LabelSelector{}, nil)}, dev, false},
		{"deny in the same role wins", []*Role{NewRole("r", LabelSelector{"*": {"*"}}, LabelSelector{"env": {"prod"}})}, prod, false},
		{"deny does not touch others", []*Role{NewRole("r", LabelSelector{"*": {"*"}}, LabelSelector{"env": {"prod"}})}, dev, true},
		{"deny in another role wins", []*Role{
			NewRole("a", LabelSelector{"env": {"prod"}}, nil),
			NewRole("b", nil, LabelSelector{"team": {"db"}}),
		}, prod, false},
		{"allow from a second role", []*Role{
			NewRole("a", LabelSelector{"env": {"dev"}}, nil),
			NewRole("b", LabelSelector{"env": {"prod"}}, nil),
		}, prod, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range tt.roles {
				if err := r.CheckAndSetDefaults(); err != nil {
					t.Fatal(err)
				}
			}
			if got := AllowsApp(tt.roles, tt.labels); got != tt.want {
				t.Errorf("AllowsApp = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRoleAndUserRoundTrip(t *testing.T) {
	for _, r := range []Resource{
		NewRole("dev", LabelSelector{"env": {"dev", "staging"}}, LabelSelector{"team": {"payments"}}),
		NewRole("all", LabelSelector{"*": {"*"}}, nil),
		NewUser("alice@corp", []string{"dev", "admin"}),
		&User{
			Header: Header{KindField: KindUser, Version: V1, Metadata: Metadata{Name: "bob"}},
			Status: &UserStatus{Created: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC), PasswordSet: true},
		},
		PresetRoles()[0],
	} {
		t.Run(r.Kind()+"/"+r.Name(), func(t *testing.T) {
			out, err := Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatalf("Parse(Marshal): %v\n%s", err, out)
			}
			if !reflect.DeepEqual(back, r) {
				t.Errorf("round trip:\n got %#v\nwant %#v\n%s", back, r, out)
			}
		})
	}
}

func TestParseUser(t *testing.T) {
	tests := []struct {
		name, in string
		want     *User
		err      string
	}{
		{name: "roles sorted", in: "kind: user\nversion: v1\nmetadata: {name: bob@corp.test}\nspec: {roles: [dev, access, dev]}\n", want: NewUser("bob@corp.test", []string{"access", "dev"})},
		{name: "no roles", in: "kind: user\nversion: v1\nmetadata: {name: bob}\n", want: NewUser("bob", nil)},
		{name: "bad name", in: "kind: user\nversion: v1\nmetadata: {name: Bob}\n", err: `user: metadata.name: "Bob" is not a user name`},
		{name: "bad role", in: "kind: user\nversion: v1\nmetadata: {name: bob}\nspec: {roles: [Dev]}\n", err: `user "bob": spec.roles: role name "Dev" contains 'D'`},
		{name: "empty role", in: "kind: user\nversion: v1\nmetadata: {name: bob}\nspec: {roles: ['']}\n", err: `user "bob": spec.roles: role name "" is empty`},
		{name: "password is not a field", in: "kind: user\nversion: v1\nmetadata: {name: bob}\nspec: {password: x}\n", err: `spec.password: unknown field (known: roles)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse = %v; want error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}
