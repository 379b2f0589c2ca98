package ipam

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash/fnv"
)

// probeStart is where the search for key's address starts, before it is
// reduced to the range. With a secret it is HMAC-SHA256(secret, key),
// truncated to 64 bits: a web page that knows an app's name and the range
// still cannot compute the app's address, so it cannot aim requests at it
// without first resolving the name (issue 9, "unpredictable virtual
// addresses"). Without a secret it is hashKey, as before secrets existed.
func probeStart(secret []byte, key string) uint64 {
	if len(secret) == 0 {
		return hashKey(key)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(key))
	return binary.BigEndian.Uint64(m.Sum(nil))
}

// hashKey is FNV-1a 64: fixed by its spec, so every process and every
// version of VNet starts probing at the same address for a key.
func hashKey(key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64()
}
