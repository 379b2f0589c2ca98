package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
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

// ErrRevoked means the certificate's record was removed: a record of the
// same name made since (a new user, a re-joined agent or leaf) does not
// take over its certificates.
var ErrRevoked = errors.New("client certificate was issued to a removed record of that name")

// Identity is who a client certificate says its holder is.
type Identity struct {
	User  string
	Roles []string
	// Generation is that of the record (user, agent, leaf) the
	// certificate was issued for; see NewGeneration. Empty in a
	// certificate from before generations, or one bound to no record
	// (a proxy's).
	Generation string
}

// IsAdmin reports whether the identity may administer the cluster.
func (id Identity) IsAdmin() bool { return slices.Contains(id.Roles, RoleAdmin) }

// The user is the certificate's common name; roles are its organizational
// units; the record's generation is its serialNumber attribute (OID
// 2.5.4.5, "an identifier of the entity": not the certificate's serial
// number, which is random per certificate).
func (id Identity) subject() pkix.Name {
	return pkix.Name{CommonName: id.User, OrganizationalUnit: id.Roles, SerialNumber: id.Generation}
}

// Verify checks that chain[0] is a client certificate this CA issued and
// that it is valid now, and returns the identity it carries.
func (ca *CA) Verify(chain []*x509.Certificate, now time.Time) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, ErrNoCertificate
	}
	leaf := chain[0]
	if err := checkExpiry(leaf, now); err != nil {
		return Identity{}, err
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:       ca.Pool(),
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return Identity{}, ErrForeignCert
	}
	return Identity{User: leaf.Subject.CommonName, Roles: leaf.Subject.OrganizationalUnit, Generation: leaf.Subject.SerialNumber}, nil
}

// IssuedFor reports whether a certificate carrying id was issued for the
// stored user u: the same name and the same record generation. A session
// opened with the certificate keeps checking it.
func (id Identity) IssuedFor(u User) bool {
	return id.User == u.Name && bound(u.Generation, id.Generation)
}

// generationBytes is the size of a record generation: enough that two
// records never draw the same one.
const generationBytes = 16

// NewGeneration returns a new record generation: a random ID made when a
// user, an agent or a leaf record is created and stored in it. Every
// certificate issued for the record carries it (Identity.Generation) and
// every call checks it against the stored record (bound), so removing a
// record ends its certificates for good, even if a record of the same
// name is created later (docs/security.md, "A certificate is bound to its
// record").
func NewGeneration() string {
	b := make([]byte, generationBytes)
	rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(b)
}

// bound checks that a certificate carrying generation cert may act for a
// record whose stored generation is stored. A record stored before
// generations existed (stored == "") accepts the certificates issued
// before them (cert == ""), so an upgrade logs nobody out; any record
// created since has a generation, which a certificate of an earlier
// record of that name lacks.
func bound(stored, cert string) bool {
	return subtle.ConstantTimeCompare([]byte(stored), []byte(cert)) == 1
}
