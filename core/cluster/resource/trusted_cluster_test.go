package resource

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const testPin = "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// trustedYAML returns a trusted_cluster for root.test whose spec is the
// required fields followed by extra.
func trustedYAML(extra string) string {
	return "kind: trusted_cluster\nversion: v1\nmetadata:\n  name: root.test\nspec:\n" +
		"  token: abc\n  web_proxy_addr: proxy.root.test:3080\n  ca_pin: " + testPin + "\n" + extra
}

func TestParseTrustedCluster(t *testing.T) {
	on, off := true, false
	tests := []struct {
		name    string
		in      string
		enabled *bool
		roleMap []RoleMapping
	}{
		{"enabled by default", trustedYAML(""), &on, nil},
		{"disabled", trustedYAML("  enabled: false\n"), &off, nil},
		{
			name:    "role map: local roles sorted and deduplicated",
			in:      trustedYAML("  role_map:\n    - remote: dev\n      local: [dev, access, dev]\n    - remote: '*'\n      local: [viewer]\n"),
			enabled: &on,
			roleMap: []RoleMapping{{Remote: "dev", Local: []string{"access", "dev"}}, {Remote: "*", Local: []string{"viewer"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tc := r.(*TrustedCluster)
			if *tc.Spec.Enabled != *tt.enabled || tc.IsEnabled() != *tt.enabled {
				t.Errorf("enabled = %v, want %v", *tc.Spec.Enabled, *tt.enabled)
			}
			if !reflect.DeepEqual(tc.Spec.RoleMap, tt.roleMap) {
				t.Errorf("role_map = %#v, want %#v", tc.Spec.RoleMap, tt.roleMap)
			}
			// What is stored parses back to the same.
			data, err := Marshal(tc)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			wantParsed(t, string(data), tc)
		})
	}
}

func TestParseTrustedClusterInvalid(t *testing.T) {
	base := "kind: trusted_cluster\nversion: v1\nmetadata: {name: root.test}\nspec:\n"
	tests := []struct{ name, in, want string }{
		{"no token", base + "  web_proxy_addr: p:3080\n  ca_pin: " + testPin + "\n", `trusted_cluster "root.test": spec.token: required`},
		{"no proxy", base + "  token: t\n  ca_pin: " + testPin + "\n", `spec.web_proxy_addr: required`},
		{"proxy without port", base + "  token: t\n  web_proxy_addr: proxy.root.test\n  ca_pin: " + testPin + "\n", `spec.web_proxy_addr: "proxy.root.test" is not host:port`},
		{"proxy port out of range", base + "  token: t\n  web_proxy_addr: p:70000\n  ca_pin: " + testPin + "\n", `spec.web_proxy_addr: port "70000"`},
		{"no pin", base + "  token: t\n  web_proxy_addr: p:3080\n", `spec.ca_pin: required`},
		{"short pin", base + "  token: t\n  web_proxy_addr: p:3080\n  ca_pin: sha256:abcd\n", `spec.ca_pin: "sha256:abcd" is not sha256: followed by 64 hex digits`},
		{"unknown field", trustedYAML("  rolemap: []\n"), `spec.rolemap: unknown field`},
		{"mapping without remote", trustedYAML("  role_map: [{local: [access]}]\n"), `spec.role_map[0].remote: required`},
		{"mapping without local", trustedYAML("  role_map: [{remote: dev}]\n"), `spec.role_map[0].local: required`},
		{"bad local role", trustedYAML("  role_map: [{remote: dev, local: [Access]}]\n"), `spec.role_map[0].local: role name "Access" contains 'A'`},
		{"partial wildcard", trustedYAML("  role_map: [{remote: 'dev*', local: [access]}]\n"), `spec.role_map[0].remote: "dev*" contains '*'`},
		{"remote twice", trustedYAML("  role_map: [{remote: dev, local: [a]}, {remote: dev, local: [b]}]\n"), `spec.role_map[1].remote: "dev" is mapped twice`},
		{"admin for root users", trustedYAML("  role_map: [{remote: '*', local: [admin]}]\n"), `spec.role_map[0].local: the admin role cannot be given`},
		{"bad name", strings.Replace(trustedYAML(""), "root.test", "Root", 1), `metadata.name: "Root" contains 'R'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line containing %q", err, tt.want)
			}
		})
	}
}

func TestMapRoles(t *testing.T) {
	tc := &TrustedCluster{Spec: TrustedClusterSpec{RoleMap: []RoleMapping{
		{Remote: "dev", Local: []string{"access"}},
		{Remote: "ops", Local: []string{"access", "prod"}},
	}}}
	any := &TrustedCluster{Spec: TrustedClusterSpec{RoleMap: []RoleMapping{{Remote: "*", Local: []string{"viewer"}}}}}
	tests := []struct {
		name   string
		tc     *TrustedCluster
		remote []string
		want   []string
	}{
		{"one role", tc, []string{"dev"}, []string{"access"}},
		{"two roles merge", tc, []string{"ops", "dev"}, []string{"access", "prod"}},
		{"unmapped role", tc, []string{"guest"}, nil},
		{"no roles", tc, nil, nil},
		{"wildcard matches any role", any, []string{"guest"}, []string{"viewer"}},
		{"wildcard needs some role", any, nil, nil},
		{"no role map maps nothing", &TrustedCluster{}, []string{"dev"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tc.MapRoles(tt.remote); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("MapRoles(%v) = %v, want %v", tt.remote, got, tt.want)
			}
		})
	}
}
