package proxy

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Limits on what one user or one connection may hold at this proxy
// (issue 10): a client past them is refused with one line that names the
// limit and the setting that raises it; other users are not affected.
const (
	// DefaultMaxStreamsPerUser is proxy_service.max_streams_per_user's
	// default: streams (tunnels, catalog watches) one user may have open
	// at one proxy at once, over all their connections.
	DefaultMaxStreamsPerUser = 1024
	// DefaultMaxStreamsPerConnection is the HTTP/2 MaxConcurrentStreams
	// the proxy announces: streams one connection may have open at once.
	// Above the per-user limit, because one connection of an agent, a leaf
	// or a peer proxy carries the streams of many users; a client past it
	// waits (HTTP/2 flow control) rather than fails.
	DefaultMaxStreamsPerConnection = 16384
	// DefaultMaxMessageBytes is the largest message the proxy accepts.
	// Tunnel frames are 128 KiB; the largest legitimate messages are an
	// agent's registration and a resource's YAML.
	DefaultMaxMessageBytes = 4 << 20
)

// streamLimiter counts the open streams of each user.
type streamLimiter struct {
	max  int // never < 1
	mu   sync.Mutex
	open map[string]int // by user; guarded by mu; no zero entries
}

// acquire takes a slot for user, or says why not; release gives it back.
func (l *streamLimiter) acquire(user string) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[user] >= l.max {
		return nil, false
	}
	if l.open == nil {
		l.open = map[string]int{}
	}
	l.open[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.open[user]--; l.open[user] <= 0 {
				delete(l.open, user)
			}
		})
	}, true
}

// limitStream runs h with a stream slot of the user in ctx, if any (a
// machine's streams are bounded per connection only).
func (s *Server) limitStream(ctx context.Context, method string, h func() error) error {
	id, err := identityFrom(ctx)
	if err != nil {
		return h()
	}
	release, ok := s.streams.acquire(id.User)
	if !ok {
		s.cfg.Logger.Info("stream refused: per-user limit", "user", id.User, "method", method, "limit", s.streams.max, "addr", peerAddr(ctx))
		return status.Errorf(codes.ResourceExhausted,
			"%s: user %q already has %d streams (tunnels and catalog watches) open at this proxy, its limit: close some, or raise proxy_service.max_streams_per_user in cluster.yaml",
			s.cfg.ClusterName, id.User, s.streams.max)
	}
	defer release()
	return h()
}

// limitedStream logs a message over the size limit with the setting
// that raises it. gRPC has already answered the client with
// ResourceExhausted and its own line naming both sizes.
type limitedStream struct {
	grpc.ServerStream
	s *Server
}

func (l limitedStream) RecvMsg(m any) error {
	err := l.ServerStream.RecvMsg(m)
	if status.Code(err) == codes.ResourceExhausted {
		l.s.cfg.Logger.Info("message refused: over the size limit (proxy_service.max_message_bytes in cluster.yaml)",
			"limit", l.s.cfg.MaxMessageBytes, "addr", peerAddr(l.Context()), "err", err)
	}
	return err
}

// checkLimits validates the limits of cfg and fills in defaults.
func (c *Config) checkLimits() error {
	if c.MaxStreamsPerUser < 0 || c.MaxStreamsPerConnection < 0 || c.MaxMessageBytes < 0 {
		return fmt.Errorf("proxy: negative limits (streams per user %d, per connection %d, message bytes %d)", c.MaxStreamsPerUser, c.MaxStreamsPerConnection, c.MaxMessageBytes)
	}
	if c.MaxStreamsPerUser == 0 {
		c.MaxStreamsPerUser = DefaultMaxStreamsPerUser
	}
	if c.MaxStreamsPerConnection == 0 {
		c.MaxStreamsPerConnection = DefaultMaxStreamsPerConnection
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	return nil
}
