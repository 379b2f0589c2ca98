/*
 * vnet.h: the C API of VNet's Go core, built as a static library
 * (go build -buildmode=c-archive ./bridge; `make bridge`).
 *
 * This hand-written header is the contract. The header cgo writes next to
 * the archive (libvnet.h) is an implementation detail: include this one.
 *
 * Users: the macOS Network Extension (swift/VNetExtension, through its
 * bridging header), the menu-bar app (vnet_profiles only) and, on Linux in
 * CI, the C harness in bridge/harness.
 *
 * Lifecycle: vnet_start -> handle; vnet_inject / vnet_status / vnet_diagnose
 * while it runs; vnet_stop once. Several instances may run in one process;
 * each has its own handle. Handles are never reused.
 *
 * Memory: nothing allocated by VNet is ever handed to the caller. Every
 * string VNet returns is copied into a buffer the caller owns; every buffer
 * the caller passes in is only read during the call and may be reused or
 * freed as soon as the call returns. Pointers VNet passes to a callback are
 * valid only until that callback returns: copy what you keep.
 *
 * Threads: every function may be called from any thread. Callbacks run on
 * threads owned by the Go runtime, never on the thread that called
 * vnet_inject. Never call vnet_stop from inside a callback (vnet_stop waits
 * for the callbacks of its instance to return).
 *
 * Lengths: every size_t the caller passes is taken as the unsigned number
 * it is; no value (SIZE_MAX included) makes VNet read or write more than
 * the text or packet at hand needs.
 *
 * JSON out: functions that fill a buffer with JSON return the length of the
 * whole JSON text (without the terminating NUL), like snprintf. If that is
 * >= buf_len the text did not fit: buf holds a NUL-terminated prefix, call
 * again with a buffer of at least the returned length + 1. That call
 * returns the very text that was measured (VNet keeps it for the retry, one
 * per instance and function), so it fits however the state changed in
 * between; the call after it measures afresh. buf may be NULL if buf_len
 * is 0 (to ask for the length only).
 *
 * Error texts (vnet_start's err, "error" fields, stopped's reason): one
 * line, naming the field or file at fault; a bad value is quoted, at most
 * its first 64 bytes; a NUL inside a text is written as the two characters
 * \0, so a message is never cut short.
 */
#ifndef VNET_H
#define VNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes below zero. */
#define VNET_ERR_HANDLE (-1) /* no such instance, or it is stopped */
#define VNET_ERR_ARG (-2)    /* a required pointer is NULL, or n > VNET_INJECT_MAX */

/* The most packets one vnet_inject call may carry. */
#define VNET_INJECT_MAX 65536

/*
 * How long VNet waits for one apply_settings call (milliseconds). The
 * callback must give up by then too: the extension waits for
 * setTunnelNetworkSettings at most this long and then returns an error.
 */
#define VNET_SETTINGS_TIMEOUT_MS 10000

/* Levels of log lines passed to vnet_callbacks.log. */
#define VNET_LOG_DEBUG (-4)
#define VNET_LOG_INFO 0
#define VNET_LOG_WARN 4
#define VNET_LOG_ERROR 8

typedef struct vnet_callbacks {
	/*
	 * write_packets hands n IP packets from VNet to the OS: pkts[i] is
	 * lens[i] bytes, a raw IPv4 or IPv6 packet without link header, and
	 * families[i] is AF_INET or AF_INET6 (the values of the platform the
	 * archive was built for, as NEPacketTunnelFlow.writePackets wants).
	 * Required. Never called concurrently with itself for one instance.
	 * The arrays and packets belong to VNet and are valid only during the
	 * call.
	 */
	void (*write_packets)(void *ctx, const uint8_t *const *pkts, const size_t *lens, const int *families, size_t n);

	/*
	 * apply_settings asks the OS to route VNet's addresses and DNS zones
	 * to the tunnel. settings_json is one object whose fields map one to
	 * one onto NEPacketTunnelNetworkSettings (see swift/README.md and
	 * bridge/nesettings.go). Called once before vnet_start returns, and
	 * again whenever the settings change. Return 0 when the settings are in
	 * force; otherwise copy a one-line reason into err (err_len bytes,
	 * NUL-terminated) and return non-zero: during vnet_start that fails
	 * the start. Required. Never called concurrently with itself.
	 *
	 * It must return within VNET_SETTINGS_TIMEOUT_MS. VNet waits no
	 * longer than that, nor past the end of start_timeout_ms during
	 * vnet_start, nor past vnet_stop: it then takes the settings as
	 * refused (a start fails) and ignores the late answer. Such a call is
	 * the one callback vnet_start and vnet_stop may return before: ctx
	 * must stay valid until it has returned, and VNet makes no other call
	 * to apply_settings (of that instance) before then.
	 */
	int (*apply_settings)(void *ctx, const char *settings_json, char *err, size_t err_len);

	/*
	 * log receives VNet's log lines (one line, no newline). It may be
	 * called from several threads at once, also while write_packets or
	 * apply_settings runs. Optional.
	 */
	void (*log)(void *ctx, int level, const char *line);

	/*
	 * stopped is called once if a running instance ends by itself (the
	 * packet path failed, the engine stopped), with a one-line reason. It
	 * is not called for a failed vnet_start, nor after vnet_stop. The
	 * handle stays valid until vnet_stop, which the caller must still call
	 * (not from this callback). Optional.
	 */
	void (*stopped)(void *ctx, const char *reason);
} vnet_callbacks;

#ifndef VNET_BRIDGE_IMPL /* the Go side declares these itself */

/*
 * vnet_start starts one VNet and returns when it serves: the clusters of
 * every profile have been asked for their apps and apply_settings has
 * succeeded once. It returns within start_timeout_ms in any case (a slow
 * apply_settings, a resolv_conf that does not answer). config_json is one
 * JSON object:
 *
 *   {
 *     "profile_dir": "/path",      required: the folder holding profiles/
 *                                  (what $VNET_HOME is to the CLI; on macOS
 *                                  inside the app group container)
 *     "upstream_dns": ["192.0.2.1", "[2001:db8::1]:53"],
 *                                  optional: where names that are not VNet's
 *                                  go; default: the nameservers of
 *                                  "resolv_conf"
 *     "resolv_conf": "/etc/resolv.conf",   optional, that default: a
 *                                  regular file of at most 64 KiB (not
 *                                  a FIFO or device)
 *     "mtu": 1500,                 optional, 1280..65535 (0 is refused)
 *     "log_level": "info",         optional: debug, info, warn, error
 *     "ipv6": true,                optional, default true: answer AAAA and route
 *                                  the machine's ULA /64, kept in
 *                                  profile_dir/ula-prefix (several
 *                                  instances may share one profile_dir)
 *     "start_timeout_ms": 30000    optional, 1..600000: give up starting
 *                                  after this
 *   }
 *
 * The JSON is read strictly: field names match exactly (case too); an
 * unknown field, a field given twice, a value of the wrong type or out of
 * range, and anything but white space after the object are errors. A
 * field whose value is null is the same as a field left out. cb and the
 * functions in it are copied; ctx is passed back to every callback
 * unchanged and must stay valid until vnet_stop returns (or, if
 * vnet_start fails, until it returns), and until an apply_settings call
 * VNet gave up waiting for has returned.
 *
 * Returns a handle > 0, or -1 with a one-line reason copied into err
 * (err_len bytes, NUL-terminated; err may be NULL if err_len is 0). A
 * failed start leaves nothing running.
 */
int64_t vnet_start(const char *config_json, const vnet_callbacks *cb, void *ctx, char *err, size_t err_len);

/*
 * vnet_inject hands n packets from the OS to VNet: pkts[i] is lens[i]
 * bytes, a raw IP packet; n is at most VNET_INJECT_MAX. The bytes are
 * copied before it returns. When VNet's inbound queue (1024 packets) is
 * full, vnet_inject waits for room: that is the back-pressure that slows
 * the reader of the OS's packets. Packets that are empty (or NULL) or
 * longer than the MTU are dropped unread and counted ("inject_dropped" in
 * the status). Returns 0, VNET_ERR_HANDLE (also when the instance stops
 * while waiting) or VNET_ERR_ARG.
 */
int vnet_inject(int64_t h, const uint8_t *const *pkts, const size_t *lens, size_t n);

/*
 * vnet_status writes the instance's status as JSON into buf: "state"
 * (running, failed), "error", "engine" (settings in force, apps
 * with their addresses), "packets" (counters) and "process" (goroutines and
 * open file descriptors of the whole process, for leak checks). Returns the
 * JSON length (see "JSON out"), VNET_ERR_HANDLE or VNET_ERR_ARG.
 */
int vnet_status(int64_t h, char *buf, size_t buf_len);

/*
 * vnet_diagnose checks what VNet depends on and writes a report as JSON
 * into buf: {"checks": [{"name", "ok", "detail"}...]}. It contacts every
 * cluster and may take up to 10 s: call it off any queue that vnet_stop
 * waits on. vnet_stop cuts a diagnosis short (its checks then fail).
 * Returns like vnet_status; the retry with a bigger buffer returns the
 * report already made, without running the checks again.
 */
int vnet_diagnose(int64_t h, char *buf, size_t buf_len);

/*
 * vnet_stop stops the instance and returns once every goroutine, socket
 * and buffer of it is gone and no callback of it runs any more, but an
 * apply_settings call VNet gave up waiting for (see apply_settings). The
 * handle is invalid afterwards. Returns 0 or VNET_ERR_HANDLE.
 */
int vnet_stop(int64_t h);

/*
 * vnet_profiles lists the logins stored under profile_dir, without starting
 * anything: {"profiles": [{"cluster", "proxy", "user", "expires",
 * "expired"}], "error": "..."} where "error" says why the list is empty
 * (e.g. not logged in). For the menu-bar app while VNet is off. Returns like
 * vnet_status.
 */
int vnet_profiles(const char *profile_dir, char *buf, size_t buf_len);

#endif /* VNET_BRIDGE_IMPL */

#ifdef __cplusplus
}
#endif

#endif /* VNET_H */
