package main

import (
	"encoding/json"
	"math"
	"strings"
	"sync"
	"unsafe"
)

// Text that leaves Go for C: buffers the caller owns (vnet.h, "JSON out"
// and vnet_start's err), and the strings callbacks receive.

// copyOut copies as much of data as fits into the caller's buffer buf of
// bufLen bytes, always NUL-terminated; nothing when buf is nil or bufLen
// 0. bufLen is compared as the unsigned size_t it is: a buffer "of
// SIZE_MAX bytes" gets len(data)+1 bytes written, never a negative length
// or more than data needs.
func copyOut(buf unsafe.Pointer, bufLen uint64, data []byte) {
	if buf == nil || bufLen == 0 {
		return
	}
	n := min(uint64(len(data)), bufLen-1)
	dst := unsafe.Slice((*byte)(buf), n+1)
	copy(dst, data[:n])
	dst[n] = 0
}

// textLen is the length a "JSON out" function returns for a text of n
// bytes: an int, which C reads as a length (no text here comes near 2 GiB,
// but a wrapped length would read as an error code).
func textLen(n int) int { return min(n, math.MaxInt32) }

// marshal is v as JSON; a value that cannot be marshalled (none of the
// bridge's types) becomes {"error": why}.
func marshal(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return data
}

// cText is s made safe for a C string: a NUL inside s would cut the text
// short, so it is written as the two characters \0 instead.
func cText(s string) string { return strings.ReplaceAll(s, "\x00", `\0`) }

// measured keeps a text that did not fit the caller's buffer, so that the
// call again with a buffer of the length it was told gets that very text,
// even though a fresh one (counters of a busy instance) may have grown:
// vnet.h's "call again with the returned length + 1" then always works.
type measured struct {
	mu   sync.Mutex
	kept []byte // guarded by mu; nil when nothing is kept
}

// text is what to write into a buffer with room for room bytes of text
// (its length less the NUL): the kept text if it fits (and it is then
// forgotten), else a fresh one from make, which is kept if it does not fit.
func (m *measured) text(room uint64, make func() []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kept != nil && uint64(len(m.kept)) <= room {
		t := m.kept
		m.kept = nil
		return t
	}
	t := make()
	if uint64(len(t)) > room {
		m.kept = t
	} else {
		m.kept = nil
	}
	return t
}

// room is the text a buffer of bufLen bytes holds: one byte goes to the
// NUL.
func room(bufLen uint64) uint64 {
	if bufLen == 0 {
		return 0
	}
	return bufLen - 1
}
