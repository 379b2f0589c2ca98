package ipam

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"hash/fnv"
	"io"
	"sync"
)

// Where the search for a key's address starts (Range.Start), before it
// is reduced to the range: with a secret, HMAC-SHA256(secret, key)
// truncated to 64 bits, so that a web page that knows an app's name and
// the range still cannot compute the app's address, so it cannot aim
// requests at it without first resolving the name (issue 9,
// "unpredictable virtual addresses"); without, hashKey, as before secrets
// existed. macStart is the first, with m an HMAC keyed by the secret.
func macStart(m hash.Hash, key string) uint64 {
	m.Reset()
	io.WriteString(m, key)
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(m.Sum(sum[:0]))
}

// macs hands out HMACs keyed by one secret, to be used again: a catalog
// of 100,000 apps made as many (about 400 bytes each) when it loaded.
type macs struct{ pool sync.Pool }

func newMacs(secret []byte) *macs {
	return &macs{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }}}
}

// start is macStart with an HMAC of the pool.
func (p *macs) start(key string) uint64 {
	m := p.pool.Get().(hash.Hash)
	defer p.pool.Put(m)
	return macStart(m, key)
}

// hashKey is FNV-1a 64: fixed by its spec, so every process and every
// version of VNet starts probing at the same address for a key.
func hashKey(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}
