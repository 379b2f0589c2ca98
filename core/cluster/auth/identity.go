package auth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

// RoleAdmin is the role that may administer the cluster (vnet ctl). It
// grants no apps.
const RoleAdmin = resource.RoleAdmin

// BuiltinAdmin is the local administrator user whose identity the daemon
// writes for `vnet ctl`; it cannot be removed or lose RoleAdmin.
const BuiltinAdmin = "admin"

// Sentinel errors a caller turns into a user-facing message.
var (
	ErrNoCertificate  = errors.New("no client certificate: run 'vnet login' first")
	ErrCertExpired    = errors.New("client certificate has expired: run 'vnet login' again")
	ErrForeignCert    = errors.New("client certificate is not signed by this cluster's CA: log in to this cluster with 'vnet login'")
	ErrUnknownUser    = errors.New("user no longer exists in this cluster")
	ErrAccessDenied   = errors.New("access denied")
	ErrInvalidLogin   = errors.New("invalid user name, token or password")
	ErrNoSuchResource = errors.New("not found")
)

// Identity is who a client certificate says its holder is.
type Identity struct {
	User  string
	Roles []string
}

// IsAdmin reports whether the identity may administer the cluster.
func (id Identity) IsAdmin() bool { return slices.Contains(id.Roles, RoleAdmin) }

// The user is the certificate's common name; roles are its organizational
// units.
func (id Identity) subject() pkix.Name {
	return pkix.Name{CommonName: id.User, OrganizationalUnit: id.Roles}
}

// Verify checks that chain[0] is a client certificate this CA issued and
// that it is valid now, and returns the identity it carries.
func (ca *CA) Verify(chain []*x509.Certificate, now time.Time) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, ErrNoCertificate
	}
	leaf := chain[0]
	if now.After(leaf.NotAfter) {
		return Identity{}, fmt.Errorf("%w (expired %s)", ErrCertExpired, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:       ca.Pool(),
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return Identity{}, ErrForeignCert
	}
	return Identity{User: leaf.Subject.CommonName, Roles: leaf.Subject.OrganizationalUnit}, nil
}
