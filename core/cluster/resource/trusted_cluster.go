package resource

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// KindTrustedCluster is created on a leaf cluster to join a root.
const KindTrustedCluster = "trusted_cluster"

func init() {
	kinds[KindTrustedCluster] = func() Resource { return new(TrustedCluster) }
}

// TrustedCluster, created on a leaf, makes the leaf join the root cluster
// it names and keep a reverse tunnel to it, in the shape of Teleport's:
//
//	kind: trusted_cluster
//	version: v1
//	metadata:
//	  name: root.test                     # the root cluster's name
//	spec:
//	  enabled: true
//	  token: 5a2c...                      # vnet ctl tokens add --type=trusted_cluster (on the root)
//	  web_proxy_addr: proxy.root.test:3080
//	  ca_pin: sha256:...                  # vnet ctl status (on the root)
//	  role_map:
//	    - remote: dev                     # a root role, or '*' for any
//	      local: [access]                 # roles of this (leaf) cluster
type TrustedCluster struct {
	Header `yaml:",inline" json:",inline"`
	Spec   TrustedClusterSpec `yaml:"spec" json:"spec"`
}

// TrustedClusterSpec is the spec of a TrustedCluster.
type TrustedClusterSpec struct {
	// Enabled false keeps the resource but holds no tunnel; nil (left
	// out) is true.
	Enabled *bool `yaml:"enabled" json:"enabled"`
	// Token is the root's join token; needed until the leaf has joined.
	Token string `yaml:"token" json:"token"`
	// WebProxyAddr is the root proxy's host:port.
	WebProxyAddr string `yaml:"web_proxy_addr" json:"web_proxy_addr"`
	// CAPin is sha256:<hex> of the root CA's public key: the leaf trusts
	// the root only by this pin.
	CAPin   string        `yaml:"ca_pin" json:"ca_pin"`
	RoleMap []RoleMapping `yaml:"role_map,omitempty" json:"role_map,omitempty"`
}

// RoleMapping maps one root role (or '*': any) to leaf roles.
type RoleMapping struct {
	Remote string   `yaml:"remote" json:"remote"`
	Local  []string `yaml:"local" json:"local"`
}

// Kind implements Resource.
func (t *TrustedCluster) Kind() string { return KindTrustedCluster }

// CheckClusterName returns an error if name cannot name a cluster.
func CheckClusterName(name string) error {
	if reason := checkResourceName(name); reason != "" || name == "" {
		if name == "" {
			reason = "is empty"
		}
		return fmt.Errorf("cluster name %q %s", name, reason)
	}
	return nil
}

// CheckAndSetDefaults implements Resource.
func (t *TrustedCluster) CheckAndSetDefaults() error {
	if err := t.Header.check(KindTrustedCluster); err != nil {
		return err
	}
	fail := func(field, format string, args ...any) error {
		return newError(KindTrustedCluster, t.Metadata.Name, field, format, args...)
	}
	s := &t.Spec
	if s.Enabled == nil {
		on := true
		s.Enabled = &on
	}
	s.Token = strings.TrimSpace(s.Token)
	if s.Token == "" {
		return fail("spec.token", "required: a join token from the root ('vnet ctl tokens add --type=trusted_cluster')")
	}
	if s.WebProxyAddr == "" {
		return fail("spec.web_proxy_addr", "required: the root proxy's host:port")
	}
	host, port, err := net.SplitHostPort(s.WebProxyAddr)
	if err != nil || host == "" {
		return fail("spec.web_proxy_addr", "%q is not host:port", s.WebProxyAddr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fail("spec.web_proxy_addr", "port %q is not a number from 1 to 65535", port)
	}
	s.CAPin = strings.ToLower(strings.TrimSpace(s.CAPin))
	if s.CAPin == "" {
		return fail("spec.ca_pin", "required: the root's CA pin ('vnet ctl status' on the root)")
	}
	if hexPart, ok := strings.CutPrefix(s.CAPin, "sha256:"); !ok || len(hexPart) != 64 || strings.Trim(hexPart, "0123456789abcdef") != "" {
		return fail("spec.ca_pin", "%q is not sha256: followed by 64 hex digits", s.CAPin)
	}
	seen := map[string]bool{}
	for i, m := range s.RoleMap {
		field := fmt.Sprintf("spec.role_map[%d]", i)
		switch {
		case m.Remote == "":
			return fail(field+".remote", "required: a root role, or '*' for any")
		case m.Remote != Wildcard && checkResourceName(m.Remote) != "":
			return fail(field+".remote", "%q %s (or '*' for any role)", m.Remote, checkResourceName(m.Remote))
		case seen[m.Remote]:
			return fail(field+".remote", "%q is mapped twice: merge the entries", m.Remote)
		case len(m.Local) == 0:
			return fail(field+".local", "required: the leaf roles %q maps to", m.Remote)
		}
		seen[m.Remote] = true
		local, err := NormalizeRoleNames(m.Local)
		if err != nil {
			return fail(field+".local", "%s", err)
		}
		for _, r := range local {
			if r == RoleAdmin {
				return fail(field+".local", "the %s role cannot be given to root users", RoleAdmin)
			}
		}
		s.RoleMap[i].Local = local
	}
	if len(s.RoleMap) == 0 {
		s.RoleMap = nil
	}
	return nil
}

// IsEnabled reports whether the leaf should hold a tunnel to the root.
func (t *TrustedCluster) IsEnabled() bool { return t.Spec.Enabled == nil || *t.Spec.Enabled }

// MapRoles returns the leaf roles that the root roles map to, sorted
// without duplicates; nil when none maps.
func (t *TrustedCluster) MapRoles(remote []string) []string {
	var out []string
	for _, m := range t.Spec.RoleMap {
		for _, r := range remote {
			if m.Remote == Wildcard || m.Remote == r {
				out = append(out, m.Local...)
				break
			}
		}
	}
	return sortedUnique(out)
}
