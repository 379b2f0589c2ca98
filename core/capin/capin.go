// Package capin is the cluster CA's fingerprint as users compare it on
// first login and agents carry it in their join file. The cluster (which
// has the CA) and the laptop (which learns it in a TLS handshake) both
// compute it, so it lives apart from either.
package capin

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
)

// Of is the pin of a CA certificate: "sha256:" and the hex SHA-256 of its
// SubjectPublicKeyInfo.
func Of(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}
