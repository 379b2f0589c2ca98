package proxy

import (
	"context"
	"fmt"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
)

// addToken serves AddToken: a join token (admin only: policy.go).
func (c *admin) addToken(ctx context.Context, req *api.AddTokenRequest) (*api.AddTokenResponse, error) {
	id, _ := identityFrom(ctx)
	ttl := time.Duration(req.GetTtlSeconds()) * time.Second
	limits := auth.AgentLimits{Apps: req.GetApps(), Labels: req.GetLabels()}
	grants := leafTokenGrants(req)
	var (
		token   string
		expires time.Time
		err     error
	)
	switch {
	case grants != nil && (len(limits.Apps) > 0 || len(limits.Labels) > 0):
		err = fmt.Errorf("--apps and --labels limit tokens of type %s, --zones and --range tokens of type %s: not both", auth.TokenTypeApp, auth.TokenTypeTrustedCluster)
	case grants != nil:
		token, expires, err = c.leaves.addToken(ctx, req.GetType(), ttl, *grants) // leaves.go
	case len(limits.Apps) == 0 && len(limits.Labels) == 0:
		token, expires, err = c.auth.AddJoinToken(ctx, req.GetType(), ttl)
	case req.GetType() != auth.TokenTypeApp:
		err = fmt.Errorf("--apps and --labels limit tokens of type %s only", auth.TokenTypeApp)
	default:
		token, expires, err = c.auth.AddAppJoinToken(ctx, ttl, limits)
	}
	if err != nil {
		return nil, grpcError(err)
	}
	c.log.Info("join token added", "type", req.GetType(), "expires", expires, "limits", limits, "by", id.User)
	return &api.AddTokenResponse{Token: token, ExpiresUnix: expires.Unix()}, nil
}

// listTokens serves ListTokens: the join tokens that can still be
// redeemed.
func (c *admin) listTokens(ctx context.Context, _ *api.ListTokensRequest) (*api.ListTokensResponse, error) {
	tokens, err := c.auth.ListJoinTokens(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &api.ListTokensResponse{}
	for _, t := range tokens {
		out.Tokens = append(out.Tokens, &api.JoinToken{Id: t.ID, Type: t.Type, ExpiresUnix: t.Expires.Unix(), Apps: t.Limits.Apps, Labels: t.Limits.Labels})
	}
	return out, nil
}
