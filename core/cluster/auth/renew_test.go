package auth

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

// TestRenewMachineIsBoundToTheRecord: a renewed agent or leaf certificate
// carries its record's generation and lives the machine TTL; once the
// record is removed (and even made again by a re-join), neither the first
// nor the renewed certificate authenticates or renews.
func TestRenewMachineIsBoundToTheRecord(t *testing.T) {
	s, ctx := newTestService(t)
	s.SetMachineCertTTL(time.Hour)
	_, pub := newPub(t)
	appToken, _, err := s.AddJoinToken(ctx, TokenTypeApp, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leafToken, _, err := s.AddLeafJoinToken(ctx, time.Hour, resource.LeafGrants{})
	if err != nil {
		t.Fatal(err)
	}
	agentPEM, agent, err := s.JoinAgent(ctx, appToken, "h", pub)
	if err != nil {
		t.Fatal(err)
	}
	leafPEM, err := s.JoinLeaf(ctx, leafToken, "leaf.test", pub)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		role   string
		first  []byte
		remove func() error
		rejoin func() error
	}{
		{RoleAgent, agentPEM, func() error { return s.RemoveAgent(ctx, agent.ID) }, nil},
		{RoleLeaf, leafPEM, func() error { return s.RemoveLeaf(ctx, "leaf.test") }, func() error {
			_, err := s.JoinLeaf(ctx, leafToken, "leaf.test", pub)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			first := []*x509.Certificate{parseCert(t, tt.first)}
			if life := first[0].NotAfter.Sub(first[0].NotBefore); life > time.Hour+time.Minute {
				t.Errorf("joined certificate lives %v, want the machine TTL 1h", life)
			}
			renewedPEM, err := s.RenewMachine(ctx, first, tt.role, pub)
			if err != nil {
				t.Fatalf("renew: %v", err)
			}
			renewed := []*x509.Certificate{parseCert(t, renewedPEM)}
			if renewed[0].Subject.SerialNumber != first[0].Subject.SerialNumber || renewed[0].Subject.CommonName != first[0].Subject.CommonName {
				t.Fatalf("renewed %v, want the first's subject %v", renewed[0].Subject, first[0].Subject)
			}
			if life := renewed[0].NotAfter.Sub(renewed[0].NotBefore); life > time.Hour+time.Minute {
				t.Errorf("renewed certificate lives %v, want the machine TTL 1h", life)
			}
			other := RoleLeaf
			if tt.role == RoleLeaf {
				other = RoleAgent
			}
			if _, err := s.RenewMachine(ctx, renewed, other, pub); err == nil {
				t.Errorf("renewed a %s certificate as a %s", tt.role, other)
			}
			if err := tt.remove(); err != nil {
				t.Fatal(err)
			}
			if tt.rejoin != nil {
				if err := tt.rejoin(); err != nil {
					t.Fatal(err)
				}
			}
			for name, chain := range map[string][]*x509.Certificate{"first": first, "renewed": renewed} {
				if _, err := s.AuthenticateMachine(ctx, chain, tt.role); !errors.Is(err, ErrAccessDenied) {
					t.Errorf("%s certificate after the removal: %v, want access denied", name, err)
				}
				if _, err := s.RenewMachine(ctx, chain, tt.role, pub); !errors.Is(err, ErrAccessDenied) {
					t.Errorf("renewal with the %s certificate after the removal: %v, want access denied", name, err)
				}
			}
		})
	}
	// A user's certificate renews no machine certificate.
	user := loginUser(t, s, ctx, "bob")
	if _, err := s.RenewMachine(ctx, user, RoleAgent, pub); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("renewal with a user's certificate: %v, want access denied", err)
	}
}
