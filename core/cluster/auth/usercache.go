package auth

import (
	"bytes"
	"slices"
	"sync"
)

// maxDecodedUsers bounds the users authCache keeps decoded.
const maxDecodedUsers = 1024

// authCache keeps what Authenticate needs of the users it saw (their
// generation and roles), decoded once per stored version: every stream
// is authenticated against the user's record as stored now (a store read
// and a byte comparison), but a record that did not change is not decoded
// again (its JSON decoding was 3% of the proxy's CPU under pgbench -C).
type authCache struct {
	mu      sync.Mutex
	decoded map[string]authUser // by name; at most maxDecodedUsers
}

type authUser struct {
	raw        []byte
	generation string
	roles      []string // shared: callers get a copy
}

// user returns the generation and (a copy of) the roles of the user
// called name whose stored record is raw.
func (c *authCache) user(name string, raw []byte) (generation string, roles []string, err error) {
	c.mu.Lock()
	d, ok := c.decoded[name]
	c.mu.Unlock()
	if !ok || !bytes.Equal(d.raw, raw) {
		u, err := decodeUser(name, raw)
		if err != nil {
			return "", nil, err
		}
		d = authUser{raw: raw, generation: u.Generation, roles: u.Roles}
		c.mu.Lock()
		if c.decoded == nil || len(c.decoded) >= maxDecodedUsers {
			c.decoded = map[string]authUser{} // start over rather than track use
		}
		c.decoded[name] = d
		c.mu.Unlock()
	}
	return d.generation, slices.Clone(d.roles), nil
}
