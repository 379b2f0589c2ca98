package main

/*
#include <stdlib.h>
#define VNET_BRIDGE_IMPL
#include "vnet.h"
*/
import "C"

import (
	"errors"
	"time"
	"unsafe"
)

// The C API. Each function only converts C values to Go values and back;
// vnet.h documents the contract. Lengths from C are size_t: they are
// compared as unsigned numbers before any conversion to int, so no value
// the caller passes (SIZE_MAX included) can turn into a negative length.

//export vnet_start
func vnet_start(configJSON *C.char, cb *C.vnet_callbacks, ctx unsafe.Pointer, errBuf *C.char, errLen C.size_t) C.int64_t {
	fail := func(err error) C.int64_t {
		copyOut(unsafe.Pointer(errBuf), uint64(errLen), []byte(oneLine(err)))
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
	opts, err := parseStartConfig([]byte(C.GoString(configJSON)), time.Now())
	if err != nil {
		return fail(err)
	}
	in, err := startInstance(opts, newCHost(cb, ctx, opts.mtu))
	if err != nil {
		return fail(err)
	}
	return C.int64_t(instances.add(in))
}

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
	switch err := injectFrom(in.queue, unsafe.Pointer(pkts), unsafe.Pointer(lens), uint64(n)); {
	case err == nil:
		return 0
	case errors.Is(err, errInjectCount):
		return C.VNET_ERR_ARG
	default:
		return C.VNET_ERR_HANDLE
	}
}

//export vnet_status
func vnet_status(handle C.int64_t, buf *C.char, bufLen C.size_t) C.int {
	in := instances.get(int64(handle))
	if in == nil {
		return C.VNET_ERR_HANDLE
	}
	if buf == nil && bufLen > 0 {
		return C.VNET_ERR_ARG
	}
	return writeOut(buf, bufLen, in.statusText(room(uint64(bufLen))))
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
	return writeOut(buf, bufLen, in.diagnosisText(room(uint64(bufLen)), time.Now()))
}

//export vnet_stop
func vnet_stop(handle C.int64_t) C.int {
	in := instances.remove(int64(handle))
	if in == nil {
		return C.VNET_ERR_HANDLE
	}
	in.stop()
	return 0
}

//export vnet_profiles
func vnet_profiles(profileDir *C.char, buf *C.char, bufLen C.size_t) C.int {
	if profileDir == nil || (buf == nil && bufLen > 0) {
		return C.VNET_ERR_ARG
	}
	return writeOut(buf, bufLen, marshal(listProfiles(C.GoString(profileDir), time.Now())))
}

// writeOut writes text into buf as vnet.h's "JSON out" says and returns
// its whole length.
func writeOut(buf *C.char, bufLen C.size_t, text []byte) C.int {
	copyOut(unsafe.Pointer(buf), uint64(bufLen), text)
	return C.int(textLen(len(text)))
}
