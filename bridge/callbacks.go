package main

/*
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#define VNET_BRIDGE_IMPL
#include "vnet.h"

// Go cannot call a C function pointer; these small trampolines do.
static inline void vnet_call_write(const vnet_callbacks *cb, void *ctx, uint8_t **pkts, size_t *lens, int *fams, size_t n) {
	cb->write_packets(ctx, (const uint8_t *const *)pkts, lens, fams, n);
}
static inline int vnet_call_apply(const vnet_callbacks *cb, void *ctx, const char *json, char *err, size_t err_len) {
	return cb->apply_settings(ctx, json, err, err_len);
}
static inline void vnet_call_log(const vnet_callbacks *cb, void *ctx, int level, const char *line) {
	if (cb->log) cb->log(ctx, level, line);
}
static inline void vnet_call_stopped(const vnet_callbacks *cb, void *ctx, const char *reason) {
	if (cb->stopped) cb->stopped(ctx, reason);
}
static inline int vnet_has_log(const vnet_callbacks *cb) { return cb->log != NULL; }
*/
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"unsafe"
)

const (
	// writeBatch is the most packets one write_packets call carries.
	writeBatch = 64
	// settingsErrLen is the room apply_settings gets for its reason.
	settingsErrLen = 512
)

// cHost is the host of an instance started from C: its callbacks, and the
// C memory that carries packets to write_packets (cgo forbids handing C a
// Go pointer to memory that holds Go pointers, and C must never keep a Go
// pointer, so packets are copied into C memory owned by the cHost).
type cHost struct {
	cb  *C.vnet_callbacks // a C copy of the caller's table; freed by free
	ctx unsafe.Pointer    // the caller's; passed back untouched
	mtu int               // room per packet in data

	// The arena, allocated once, reused for every batch; only the
	// goroutine holding the packetQueue's writeMu touches it.
	ptrs []*C.uint8_t
	lens []C.size_t
	fams []C.int
	data []byte // writeBatch * mtu bytes of C memory

	errBuf *C.char // settingsErrLen bytes; used by one ApplySettings at a time (the instance's applying token)
}

// newCHost copies cb and allocates the arena. The caller checked cb's
// required functions.
func newCHost(cb *C.vnet_callbacks, ctx unsafe.Pointer, mtu int) *cHost {
	h := &cHost{ctx: ctx, mtu: mtu}
	h.cb = (*C.vnet_callbacks)(C.malloc(C.size_t(unsafe.Sizeof(*cb))))
	*h.cb = *cb
	h.ptrs = unsafe.Slice((**C.uint8_t)(C.malloc(C.size_t(writeBatch*unsafe.Sizeof((*C.uint8_t)(nil))))), writeBatch)
	h.lens = unsafe.Slice((*C.size_t)(C.malloc(C.size_t(writeBatch*unsafe.Sizeof(C.size_t(0))))), writeBatch)
	h.fams = unsafe.Slice((*C.int)(C.malloc(C.size_t(writeBatch*unsafe.Sizeof(C.int(0))))), writeBatch)
	h.data = unsafe.Slice((*byte)(C.malloc(C.size_t(writeBatch*mtu))), writeBatch*mtu)
	h.errBuf = (*C.char)(C.malloc(settingsErrLen))
	return h
}

// Close releases the C memory. The instance calls it once, when no
// callback runs any more.
func (h *cHost) Close() {
	C.free(unsafe.Pointer(h.cb))
	C.free(unsafe.Pointer(&h.ptrs[0]))
	C.free(unsafe.Pointer(&h.lens[0]))
	C.free(unsafe.Pointer(&h.fams[0]))
	C.free(unsafe.Pointer(&h.data[0]))
	C.free(unsafe.Pointer(h.errBuf))
}

// WritePackets copies pkts into the arena, writeBatch at a time, and hands
// each batch to write_packets with its address families. A packet that is
// neither IPv4 nor IPv6, or longer than the MTU, is left out: the OS could
// not take it.
func (h *cHost) WritePackets(pkts [][]byte) error {
	n, skipped := 0, 0
	flush := func() {
		if n > 0 {
			C.vnet_call_write(h.cb, h.ctx, &h.ptrs[0], &h.lens[0], &h.fams[0], C.size_t(n))
			n = 0
		}
	}
	for _, p := range pkts {
		fam, ok := family(p)
		if !ok || len(p) > h.mtu {
			skipped++
			continue
		}
		slot := h.data[n*h.mtu : n*h.mtu+len(p)]
		copy(slot, p)
		h.ptrs[n] = (*C.uint8_t)(unsafe.Pointer(&slot[0]))
		h.lens[n] = C.size_t(len(p))
		h.fams[n] = fam
		n++
		if n == writeBatch {
			flush()
		}
	}
	flush()
	if skipped > 0 {
		return fmt.Errorf("write: %d packets neither IPv4 nor IPv6 or over the MTU", skipped)
	}
	return nil
}

// family is the platform's AF_ value for an IP packet, from its version.
func family(p []byte) (C.int, bool) {
	if len(p) == 0 {
		return 0, false
	}
	switch p[0] >> 4 {
	case 4:
		return C.AF_INET, true
	case 6:
		return C.AF_INET6, true
	}
	return 0, false
}

// ApplySettings passes the settings JSON to apply_settings and turns its
// refusal into an error with the reason it gave.
func (h *cHost) ApplySettings(settingsJSON []byte) error {
	cs := C.CString(string(settingsJSON))
	defer C.free(unsafe.Pointer(cs))
	*h.errBuf = 0
	if rc := C.vnet_call_apply(h.cb, h.ctx, cs, h.errBuf, settingsErrLen); rc != 0 {
		// The callback may have filled all of errBuf; make sure it ends.
		*(*C.char)(unsafe.Add(unsafe.Pointer(h.errBuf), settingsErrLen-1)) = 0
		if msg := C.GoString(h.errBuf); msg != "" {
			return errors.New(msg)
		}
		return fmt.Errorf("refused (code %d)", int(rc))
	}
	return nil
}

// Log passes a line to the log callback, if there is one. slog's levels
// are the header's VNET_LOG_* values.
func (h *cHost) Log(level slog.Level, line string) {
	if C.vnet_has_log(h.cb) == 0 {
		return
	}
	cs := C.CString(cText(line))
	defer C.free(unsafe.Pointer(cs))
	C.vnet_call_log(h.cb, h.ctx, C.int(level), cs)
}

// Stopped passes reason to the stopped callback, if there is one.
func (h *cHost) Stopped(reason string) {
	cs := C.CString(cText(reason))
	defer C.free(unsafe.Pointer(cs))
	C.vnet_call_stopped(h.cb, h.ctx, cs)
}
