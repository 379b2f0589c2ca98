package proxy

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
)

// Machine certificates (agents', leaves') live a day at most
// (auth.DefaultMachineCertTTL): their holders renew them with Renew,
// authenticated by the certificate they hold, before it ends. The new
// certificate is bound to the same record (its generation), so removing
// the agent or the leaf ends it as it ends the first.

// renewMachine signs a new certificate of role (auth.RoleAgent or
// RoleLeaf) for the machine calling.
func renewMachine(ctx context.Context, a *auth.Service, log *slog.Logger, role string, req *api.RenewRequest) (*api.RenewResponse, error) {
	name, err := machineFrom(ctx, role) // policy.go
	if err != nil {
		return nil, err
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer")
	}
	_, info, ok := tlsInfoOf(ctx, p.AuthInfo)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "not a TLS connection")
	}
	// The policy checked the certificate; RenewMachine checks it again
	// against the record it signs for, so that a removal between the two
	// is not missed.
	cert, err := a.RenewMachine(ctx, info.State.PeerCertificates, role, req.GetPublicKey())
	if err != nil {
		log.Info("certificate renewal refused", "role", role, "name", name, "addr", peerAddr(ctx), "err", err)
		return nil, grpcError(err)
	}
	log.Info("certificate renewed", "role", role, "name", name, "addr", peerAddr(ctx))
	return &api.RenewResponse{CertificatePem: cert}, nil
}
