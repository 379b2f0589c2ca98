package main

/*
#include <stdlib.h>
#define VNET_BRIDGE_IMPL
#include "vnet.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"
	"unsafe"
)

// The C API. Each function only converts C values to Go values and back;
// vnet.h documents the contract.

//export vnet_start
func vnet_start(configJSON *C.char, cb *C.vnet_callbacks, ctx unsafe.Pointer, errBuf *C.char, errLen C.size_t) C.int64_t {
	fail := func(err error) C.int64_t {
		copyOut(errBuf, errLen, []byte(oneLine(err)))
		return -1
	}
	switch {
	case configJSON == nil:
		return fail(errors.New("config_json is NULL"))
	case cb == nil:
		return fail(errors.New("callbacks are NULL"))
	case cb.write_packets == nil:
		return fail(errors.New("callbacks: write_packets is required"))
	case cb.apply_settings == nil:
		return fail(errors.New("callbacks: apply_settings is required"))
	}
	opts, err := parseStartConfig([]byte(C.GoString(configJSON)))
	if err != nil {
		return fail(err)
	}
	h := newCHost(cb, ctx, opts.mtu)
	in, err := startInstance(opts, h)
	if err != nil {
		h.free()
		return fail(err)
	}
	return C.int64_t(instances.add(in))
}

// batchPool recycles the slice headers vnet_inject builds over C memory.
var batchPool = sync.Pool{New: func() any { return new([][]byte) }}

//export vnet_inject
func vnet_inject(handle C.int64_t, pkts **C.uint8_t, lens *C.size_t, n C.size_t) C.int {
	in := instances.get(int64(handle))
	switch {
	case in == nil:
		return C.VNET_ERR_HANDLE
	case n == 0:
		return 0
	case pkts == nil || lens == nil:
		return C.VNET_ERR_ARG
	}
	ps, ls := unsafe.Slice(pkts, int(n)), unsafe.Slice(lens, int(n))
	bp := batchPool.Get().(*[][]byte)
	batch := (*bp)[:0]
	for i := range ps {
		var p []byte
		if ps[i] != nil {
			// One byte over the MTU is enough for inject to see that a
			// packet is too long; the rest is never read.
			p = unsafe.Slice((*byte)(unsafe.Pointer(ps[i])), min(int(ls[i]), in.opts.mtu+1))
		}
		batch = append(batch, p)
	}
	err := in.queue.inject(batch)
	clear(batch) // no reference to C memory may outlive the call
	*bp = batch
	batchPool.Put(bp)
	if err != nil {
		return C.VNET_ERR_HANDLE
	}
	return 0
}

//export vnet_status
func vnet_status(handle C.int64_t, buf *C.char, bufLen C.size_t) C.int {
	in := instances.get(int64(handle))
	if in == nil {
		return C.VNET_ERR_HANDLE
	}
	return writeJSON(buf, bufLen, statusJSON(in.status()))
}

//export vnet_diagnose
func vnet_diagnose(handle C.int64_t, buf *C.char, bufLen C.size_t) C.int {
	in := instances.get(int64(handle))
	if in == nil {
		return C.VNET_ERR_HANDLE
	}
	if buf == nil && bufLen > 0 {
		return C.VNET_ERR_ARG
	}
	return writeJSON(buf, bufLen, diagnosisJSON(in.diagnose(context.Background(), time.Now())))
}

//export vnet_stop
func vnet_stop(handle C.int64_t) C.int {
	in := instances.remove(int64(handle))
	if in == nil {
		return C.VNET_ERR_HANDLE
	}
	in.stop()
	if h, ok := in.host.(*cHost); ok {
		h.free()
	}
	return 0
}

//export vnet_profiles
func vnet_profiles(profileDir *C.char, buf *C.char, bufLen C.size_t) C.int {
	if profileDir == nil {
		return C.VNET_ERR_ARG
	}
	return writeJSON(buf, bufLen, listProfiles(C.GoString(profileDir), time.Now()))
}

// writeJSON writes v as JSON into buf as vnet.h's "JSON out" says and
// returns the length of the whole text.
func writeJSON(buf *C.char, bufLen C.size_t, v any) C.int {
	if buf == nil && bufLen > 0 {
		return C.VNET_ERR_ARG
	}
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	copyOut(buf, bufLen, data)
	return C.int(len(data))
}

// copyOut copies as much of data as fits into the C buffer buf of bufLen
// bytes, always NUL-terminated; nothing when buf is NULL or bufLen 0.
func copyOut(buf *C.char, bufLen C.size_t, data []byte) {
	if buf == nil || bufLen == 0 {
		return
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(bufLen))
	n := copy(dst[:len(dst)-1], data)
	dst[n] = 0
}
