/*
 * harness: drives VNet's C API (bridge/vnet.h) on Linux exactly as the
 * macOS Network Extension does, over a real TUN device, so the bridge is
 * tested where Swift cannot be built.
 *
 *   harness [-t TUN] run CONFIG.json      serve until SIGTERM/SIGINT;
 *                                         SIGUSR1 prints the status JSON,
 *                                         SIGUSR2 the diagnosis JSON
 *   harness [-t TUN] cycle CONFIG.json N  start and stop N times, then fail
 *                                         if goroutines or open fds grew
 *   harness profiles DIR                  print vnet_profiles' JSON
 *   harness [-t TUN] limits CONFIG.json   drive the API at its edges
 *                                         (lengths up to SIZE_MAX, the
 *                                         "call again" recipe while packets
 *                                         flow, a NUL in an error): one
 *                                         "ok NAME" or "FAIL NAME: why"
 *                                         line per check
 *   harness together CONFIG.json N        start N instances at once from N
 *                                         threads (settings not applied),
 *                                         check they share one ULA prefix
 *   harness slowstart CONFIG.json         apply_settings that does not
 *                                         return: vnet_start must give up
 *                                         at start_timeout_ms
 *
 * Settings are applied with `ip` (address, MTU, routes); DNS is not
 * configured: query VNet's DNS address directly. Exit status 0 on success,
 * 1 on failure; messages go to stderr, JSON to stdout. Everything it
 * allocates is freed (also on failure), so that LeakSanitizer reports only
 * what VNet leaks (scripts/bridge-e2e.sh --sanitize).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vnet.h"

extern char **environ;

#define BATCH 64
#define MAX_PKT 65535
#define MAX_ITEMS 64
#define ITEM_LEN 64
/* Growth allowed over 50 cycles: one leaked goroutine or fd per cycle would
 * exceed it many times over. */
#define SLACK_GOROUTINES 10
#define SLACK_FDS 3

static const char *tun_name = "vnetb0";
static int tun_fd = -1;
static int wake[2] = {-1, -1}; /* signal handlers and callbacks write here */
static char *config;           /* the config file's text; freed by die too */

static void die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs("harness: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	free(config);
	exit(1);
}

/* ---- the TUN device ---- */

static void open_tun(void) {
	struct ifreq ifr;
	tun_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tun_fd < 0)
		die("open /dev/net/tun: %s", strerror(errno));
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", tun_name);
	if (ioctl(tun_fd, TUNSETIFF, &ifr) < 0)
		die("create TUN %s: %s", tun_name, strerror(errno));
	if (fcntl(tun_fd, F_SETFL, O_NONBLOCK) < 0)
		die("TUN non-blocking: %s", strerror(errno));
}

/* ---- applying settings: `ip`, without a shell ---- */

/* run_ip runs `ip ARGS...`; on failure it writes why into err. */
static int run_ip(char *err, size_t err_len, const char *const *args) {
	const char *argv[16] = {"ip"};
	int n = 1, status;
	pid_t pid;
	for (; args[n - 1] && n < 15; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	if ((errno = posix_spawnp(&pid, "ip", NULL, NULL, (char *const *)argv, environ)) != 0) {
		snprintf(err, err_len, "spawn ip: %s", strerror(errno));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			snprintf(err, err_len, "wait for ip: %s", strerror(errno));
			return -1;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		size_t off = (size_t)snprintf(err, err_len, "ip");
		for (int i = 1; argv[i] && off < err_len; i++)
			off += (size_t)snprintf(err + off, err_len - off, " %s", argv[i]);
		if (off < err_len)
			snprintf(err + off, err_len - off, " failed");
		return -1;
	}
	return 0;
}

/*
 * json_strings collects the string values of every "key": "v" and
 * "key": ["v", ...] in json. Enough for the settings VNet sends (addresses
 * and prefixes, never escaped) and the harness's own config files (white
 * space after the colon); anything else is an error.
 */
static int json_strings(const char *json, const char *key, char out[][ITEM_LEN], int max) {
	char pat[64];
	int n = 0;
	snprintf(pat, sizeof pat, "\"%s\":", key);
	for (const char *p = strstr(json, pat); p; p = strstr(p, pat)) {
		p += strlen(pat);
		p += strspn(p, " \t\n");
		int array = *p == '[';
		if (array)
			p++;
		while (*p == '"') {
			const char *end = strchr(p + 1, '"');
			size_t len = end ? (size_t)(end - p - 1) : 0;
			if (!end || len >= ITEM_LEN || memchr(p + 1, '\\', len) || n == max)
				return -1;
			memcpy(out[n], p + 1, len);
			out[n++][len] = 0;
			p = end + 1;
			if (!array || *p != ',')
				break;
			p++;
			p += strspn(p, " \t\n");
		}
	}
	return n;
}

static int json_int(const char *json, const char *key) {
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(json, pat);
	return p ? atoi(p + strlen(pat)) : -1;
}

static int apply_settings(void *ctx, const char *json, char *err, size_t err_len) {
	char addrs[MAX_ITEMS][ITEM_LEN], prefixes[MAX_ITEMS][ITEM_LEN], mtu[16], cidr[ITEM_LEN + 8];
	int na = json_strings(json, "addresses", addrs, MAX_ITEMS);
	int np = json_strings(json, "prefix", prefixes, MAX_ITEMS);
	int m = json_int(json, "mtu");
	(void)ctx;
	if (na < 1 || np < 0 || m < 576) {
		snprintf(err, err_len, "harness cannot read the settings: %.200s", json);
		return 1;
	}
	fprintf(stderr, "harness: settings %s\n", json);
	snprintf(mtu, sizeof mtu, "%d", m);
	if (run_ip(err, err_len, (const char *[]){"link", "set", tun_name, "mtu", mtu, "up", NULL}))
		return 1;
	for (int i = 0; i < na; i++) {
		snprintf(cidr, sizeof cidr, "%.63s/%s", addrs[i], strchr(addrs[i], ':') ? "128" : "32");
		if (run_ip(err, err_len, (const char *[]){"addr", "replace", cidr, "dev", tun_name, NULL}))
			return 1;
	}
	/* The settings are complete: routes that are no longer in them go,
	 * IPv4 and IPv6 alike. */
	if (run_ip(err, err_len, (const char *[]){"-4", "route", "flush", "dev", tun_name, NULL}))
		return 1;
	if (run_ip(err, err_len, (const char *[]){"-6", "route", "flush", "dev", tun_name, NULL}))
		return 1;
	for (int i = 0; i < np; i++)
		if (run_ip(err, err_len, (const char *[]){"route", "replace", prefixes[i], "dev", tun_name, NULL}))
			return 1;
	return 0;
}

/* ---- packets ---- */

static void write_packets(void *ctx, const uint8_t *const *pkts, const size_t *lens, const int *families, size_t n) {
	(void)ctx;
	(void)families; /* a TUN without packet information takes raw IP */
	for (size_t i = 0; i < n; i++)
		if (write(tun_fd, pkts[i], lens[i]) < 0 && errno != EAGAIN)
			fprintf(stderr, "harness: write to TUN: %s\n", strerror(errno));
}

static volatile int reader_quit;

/* reader moves packets from the TUN into VNet a batch at a time, as the
 * extension's packetFlow loop does. */
static void *reader(void *arg) {
	int64_t h = *(int64_t *)arg;
	static uint8_t bufs[BATCH][MAX_PKT];
	const uint8_t *pkts[BATCH];
	size_t lens[BATCH];
	struct pollfd pfd = {.fd = tun_fd, .events = POLLIN};
	while (!reader_quit) {
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		size_t n = 0;
		for (; n < BATCH; n++) {
			ssize_t r = read(tun_fd, bufs[n], MAX_PKT);
			if (r <= 0)
				break;
			pkts[n] = bufs[n];
			lens[n] = (size_t)r;
		}
		if (n > 0 && vnet_inject(h, pkts, lens, n) != 0)
			break; /* stopped */
	}
	return NULL;
}

/* ---- callbacks that only report ---- */

static void log_line(void *ctx, int level, const char *line) {
	(void)ctx;
	(void)level;
	fprintf(stderr, "vnet: %s\n", line);
}

static char stop_reason[512];

static void stopped(void *ctx, const char *reason) {
	(void)ctx;
	snprintf(stop_reason, sizeof stop_reason, "%s", reason);
	if (write(wake[1], "x", 1) < 0) {
	}
}

static const vnet_callbacks callbacks = {
	.write_packets = write_packets,
	.apply_settings = apply_settings,
	.log = log_line,
	.stopped = stopped,
};

/* ---- JSON out of the API, with the snprintf-like size protocol ---- */

typedef int (*json_fn)(int64_t h, char *buf, size_t len);

/* fetch returns a malloc'd JSON text from fn, growing the buffer if the
 * first one (deliberately small) is too short. */
static char *fetch(json_fn fn, int64_t h) {
	size_t len = 256;
	for (;;) {
		char *buf = malloc(len);
		if (!buf)
			die("out of memory");
		int n = fn(h, buf, len);
		if (n < 0) {
			free(buf);
			die("JSON call failed: %d", n);
		}
		if ((size_t)n < len)
			return buf;
		free(buf);
		len = (size_t)n + 1;
	}
}

static int64_t start(const char *config) {
	char err[512];
	int64_t h = vnet_start(config, &callbacks, NULL, err, sizeof err);
	if (h <= 0)
		die("vnet_start: %s", err);
	return h;
}

static char *read_file(const char *path) {
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	char *buf = calloc(1, 1 << 16);
	if (!buf)
		die("out of memory");
	size_t n = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	if (n == 0) {
		free(buf);
		die("%s is empty", path);
	}
	return buf;
}

/* ---- modes ---- */

static void on_signal(int sig) {
	char c = sig == SIGUSR1 ? 's' : sig == SIGUSR2 ? 'd' : 't';
	if (write(wake[1], &c, 1) < 0) {
	}
}

static int mode_run(const char *config) {
	/* SA_ONSTACK: the Go runtime in this process demands it of every
	 * handler, as a signal may arrive on a goroutine's small stack. */
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_ONSTACK | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	int64_t h = start(config);
	pthread_t t;
	printf("harness: VNet is up (handle %lld)\n", (long long)h);
	fflush(stdout);
	if (pthread_create(&t, NULL, reader, &h) != 0)
		die("reader thread: %s", strerror(errno));
	const int sigs[] = {SIGUSR1, SIGUSR2, SIGTERM, SIGINT};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	int rc = 0;
	for (char c = 0; c != 't';) {
		if (read(wake[0], &c, 1) != 1)
			continue; /* EINTR */
		char *json = NULL;
		if (c == 's')
			json = fetch(vnet_status, h);
		else if (c == 'd')
			json = fetch(vnet_diagnose, h);
		else if (c == 'x') {
			fprintf(stderr, "harness: VNet stopped by itself: %s\n", stop_reason);
			rc = 1;
			c = 't';
		}
		if (json) {
			printf("%s\n", json);
			fflush(stdout);
			free(json);
		}
	}
	reader_quit = 1;
	pthread_join(t, NULL);
	if (vnet_stop(h) != 0)
		die("vnet_stop failed");
	if (vnet_inject(h, NULL, NULL, 0) != VNET_ERR_HANDLE)
		die("a stopped handle still works");
	printf("harness: stopped\n");
	return rc;
}

/* stat_of reads "key":N out of a status JSON. */
static int stat_of(int64_t h, const char *key) {
	char *json = fetch(vnet_status, h);
	int v = json_int(json, key);
	free(json);
	if (v < 0)
		die("status has no %s", key);
	return v;
}

/* rss_kib is the process's resident memory (VmRSS) in KiB, or -1 where
 * there is no /proc (macOS). Printed by cycle, not checked: it moves with
 * the Go collector's timing. */
static long rss_kib(void) {
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	if (!fp)
		return -1;
	while (fgets(line, sizeof line, fp))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(fp);
	return v;
}

/* RSS_SAMPLES is how many rounds of cycle print their RSS: the second,
 * the last, and evenly between, so that a one-off step (the Go heap's
 * next target) and a growth per round look different. */
#define RSS_SAMPLES 6

static int mode_cycle(const char *config, int n) {
	int g0 = 0, f0 = 0, g = 0, f = 0;
	long r0 = 0, r = 0;
	int rounds[RSS_SAMPLES];
	long rss[RSS_SAMPLES];
	int k = 0;
	if (n < 2)
		die("cycle needs at least 2 rounds");
	for (int i = 1; i <= n; i++) {
		int64_t h = start(config);
		/* Round 1 starts what lives for the process (runtime, caches);
		 * round 2 is the baseline. */
		if (i == 2) {
			g0 = stat_of(h, "goroutines");
			f0 = stat_of(h, "open_fds");
			r0 = rss_kib();
		}
		if (i == n) {
			g = stat_of(h, "goroutines");
			f = stat_of(h, "open_fds");
			r = rss_kib();
		}
		/* Rounds 2 + j*(n-2)/(RSS_SAMPLES-1), j = 0..RSS_SAMPLES-1. */
		if (k < RSS_SAMPLES && i >= 2 && (i - 2) * (RSS_SAMPLES - 1) >= k * (n - 2)) {
			rounds[k] = i;
			rss[k++] = rss_kib();
		}
		if (vnet_stop(h) != 0)
			die("vnet_stop %d failed", i);
	}
	printf("cycle: %d starts and stops; goroutines %d -> %d, open fds %d -> %d, rss %ld -> %ld KiB\n", n, g0, g, f0, f, r0, r);
	printf("cycle: rss by round, KiB:");
	for (int j = 0; j < k; j++)
		printf(" %d=%ld", rounds[j], rss[j]);
	printf("\n");
	if (g > g0 + SLACK_GOROUTINES || f > f0 + SLACK_FDS) {
		fprintf(stderr, "harness: leak: goroutines %d -> %d (slack %d), fds %d -> %d (slack %d)\n", g0, g, SLACK_GOROUTINES, f0, f, SLACK_FDS);
		return 1;
	}
	return 0;
}

/* ---- limits: the API at its edges ---- */

static int failures;

/* result prints "ok NAME" or "FAIL NAME: why" (why from fmt). */
static void result(const char *name, int ok, const char *fmt, ...) {
	if (ok) {
		printf("ok %s\n", name);
	} else {
		va_list ap;
		va_start(ap, fmt);
		printf("FAIL %s: ", name);
		vprintf(fmt, ap);
		putchar('\n');
		va_end(ap);
		failures++;
	}
	fflush(stdout);
}

/* An IPv4 header that VNet's netstack drops (bad checksum). */
static const uint8_t junk[20] = {0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17};

static volatile int injector_quit;

/* injector keeps packets flowing into VNet, so that its counters change
 * between two vnet_status calls. */
static void *injector(void *arg) {
	int64_t h = *(int64_t *)arg;
	const uint8_t *pkts[16];
	size_t lens[16];
	for (int i = 0; i < 16; i++) {
		pkts[i] = junk;
		lens[i] = sizeof junk;
	}
	while (!injector_quit)
		if (vnet_inject(h, pkts, lens, 16) != 0)
			break;
	return NULL;
}

typedef int (*out_fn)(const void *arg, char *buf, size_t len);

/* out_fits checks a "JSON out" call given a buf_len far beyond its real
 * buffer (64 KiB, filled with 'x'): it must write the text, its NUL, and
 * not one byte more. */
static void out_fits(const char *name, out_fn call, const void *arg, size_t len) {
	size_t size = 1 << 16;
	char *buf = malloc(size);
	if (!buf)
		die("out of memory");
	memset(buf, 'x', size);
	int n = call(arg, buf, len);
	int ok = n > 0 && (size_t)n + 2 < size && strlen(buf) == (size_t)n && buf[n + 1] == 'x';
	result(name, ok, "returned %d, wrote %zu bytes before the NUL", n, strnlen(buf, size));
	free(buf);
}

static int64_t limits_handle;
static const char *limits_profiles;

static int call_status(const void *arg, char *buf, size_t len) {
	(void)arg;
	return vnet_status(limits_handle, buf, len);
}
static int call_diagnose(const void *arg, char *buf, size_t len) {
	(void)arg;
	return vnet_diagnose(limits_handle, buf, len);
}
static int call_profiles(const void *arg, char *buf, size_t len) {
	(void)arg;
	return vnet_profiles(limits_profiles, buf, len);
}
static int call_start(const void *arg, char *buf, size_t len) {
	int64_t h = vnet_start((const char *)arg, &callbacks, NULL, buf, len);
	if (h > 0) {
		vnet_stop(h);
		return -1;
	}
	return (int)strlen(buf);
}

/* retry_holds runs vnet.h's recipe on fn: ask for the length, call with
 * one byte too few, then with the length that returned + 1: that must fit
 * and be the very text the second call measured (the prefix it wrote
 * matches). Returns 1 if it held; *changed counts the rounds whose text
 * changed between the first two calls. */
static int retry_holds(json_fn fn, int64_t h, int *changed) {
	int n0 = fn(h, NULL, 0);
	if (n0 <= 0)
		return 0;
	char *first = malloc((size_t)n0);
	if (!first)
		die("out of memory");
	int n1 = fn(h, first, (size_t)n0); /* one byte short, if nothing changed */
	if (n1 != n0)
		(*changed)++;
	if (n1 >= 0 && n1 < n0) { /* the text shrank and fit: nothing to retry */
		free(first);
		return 1;
	}
	char *second = n1 > 0 ? malloc((size_t)n1 + 1) : NULL;
	if (!second) {
		free(first);
		return 0;
	}
	int n2 = fn(h, second, (size_t)n1 + 1);
	size_t prefix = strlen(first);
	int ok = n2 == n1 && strlen(second) == (size_t)n2 && memcmp(first, second, prefix) == 0;
	free(first);
	free(second);
	return ok;
}

static int mode_limits(const char *config) {
	int64_t h = start(config);
	limits_handle = h;
	char dirs[1][ITEM_LEN];
	if (json_strings(config, "profile_dir", dirs, 1) != 1)
		die("the config has no short profile_dir");
	limits_profiles = dirs[0];

	/* Packet lengths are compared as size_t with the MTU. */
	int mtu = stat_of(h, "mtu"), dropped = stat_of(h, "inject_dropped");
	const uint8_t *pkts[3] = {junk, junk, junk};
	size_t lens[3] = {SIZE_MAX, (size_t)1 << 63, (size_t)mtu + 1};
	int rc = vnet_inject(h, pkts, lens, 3);
	int now = stat_of(h, "inject_dropped");
	result("inject: lengths SIZE_MAX, 2^63 and MTU+1 are dropped unread", rc == 0 && now == dropped + 3, "rc %d, inject_dropped %d -> %d", rc, dropped, now);

	/* More packets than VNET_INJECT_MAX in one call are refused. */
	size_t counts[3] = {SIZE_MAX, (size_t)1 << 63, VNET_INJECT_MAX + 1};
	int refused = 0;
	for (int i = 0; i < 3; i++)
		refused += vnet_inject(h, pkts, lens, counts[i]) == VNET_ERR_ARG;
	result("inject: counts SIZE_MAX, 2^63 and VNET_INJECT_MAX+1 are refused", refused == 3, "%d of 3 refused with VNET_ERR_ARG", refused);

	const uint8_t **many = calloc(VNET_INJECT_MAX, sizeof *many);
	size_t *zero = calloc(VNET_INJECT_MAX, sizeof *zero);
	if (!many || !zero)
		die("out of memory");
	dropped = stat_of(h, "inject_dropped");
	rc = vnet_inject(h, many, zero, VNET_INJECT_MAX);
	now = stat_of(h, "inject_dropped");
	result("inject: VNET_INJECT_MAX NULL packets in one call", rc == 0 && now == dropped + VNET_INJECT_MAX, "rc %d, inject_dropped %d -> %d", rc, dropped, now);
	free(many);
	free(zero);

	/* A huge buf_len writes only what the text needs. */
	out_fits("status: buf_len SIZE_MAX", call_status, NULL, SIZE_MAX);
	out_fits("status: buf_len 2^63", call_status, NULL, (size_t)1 << 63);
	out_fits("profiles: buf_len SIZE_MAX", call_profiles, NULL, SIZE_MAX);
	out_fits("start: err_len SIZE_MAX", call_start, "{\"profile_dir\": \"/nonexistent\"}", SIZE_MAX);
	out_fits("diagnose: buf_len SIZE_MAX", call_diagnose, NULL, SIZE_MAX);

	/* An error text with a NUL inside: nothing after it is lost. */
	char err[512];
	int64_t bad = vnet_start("{\"profile_dir\": \"/nonexistent/nul\\u0000after\"}", &callbacks, NULL, err, sizeof err);
	result("start: an error with a NUL inside is not cut short", bad == -1 && strstr(err, "after") != NULL, "%s", err);

	/* vnet.h's "call again" recipe, while the counters move. */
	pthread_t t;
	injector_quit = 0;
	if (pthread_create(&t, NULL, injector, &h) != 0)
		die("injector thread: %s", strerror(errno));
	int held = 0, changed = 0, rounds = 200;
	for (int i = 0; i < rounds; i++)
		held += retry_holds(vnet_status, h, &changed);
	injector_quit = 1;
	pthread_join(t, NULL);
	result("status: the call-again recipe holds while packets flow", held == rounds, "held in %d of %d rounds", held, rounds);
	printf("limits: the status length changed between two calls in %d of %d rounds\n", changed, rounds);
	int unused = 0;
	result("diagnose: the retry returns the report measured", retry_holds(vnet_diagnose, h, &unused), "the retry did not return the text measured");

	if (vnet_stop(h) != 0)
		die("vnet_stop failed");
	printf("limits: %d failed\n", failures);
	return failures ? 1 : 0;
}

/* ---- together: instances started at once ---- */

static void quiet_write(void *ctx, const uint8_t *const *pkts, const size_t *lens, const int *families, size_t n) {
	(void)ctx, (void)pkts, (void)lens, (void)families, (void)n;
}
static int quiet_apply(void *ctx, const char *json, char *err, size_t err_len) {
	(void)ctx, (void)json, (void)err, (void)err_len;
	return 0;
}
static const vnet_callbacks quiet_callbacks = {.write_packets = quiet_write, .apply_settings = quiet_apply};

#define MAX_TOGETHER 32

struct starter {
	pthread_barrier_t *go;
	const char *config;
	int64_t h;
	char err[512];
};

static void *start_one(void *arg) {
	struct starter *s = arg;
	pthread_barrier_wait(s->go);
	s->h = vnet_start(s->config, &quiet_callbacks, NULL, s->err, sizeof s->err);
	return NULL;
}

static int mode_together(const char *config, int n) {
	struct starter st[MAX_TOGETHER];
	pthread_t t[MAX_TOGETHER];
	pthread_barrier_t go;
	char first[ITEM_LEN] = "";
	int started = 0, same = 0;
	if (n < 2 || n > MAX_TOGETHER)
		die("together needs 2..%d instances", MAX_TOGETHER);
	pthread_barrier_init(&go, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		st[i] = (struct starter){.go = &go, .config = config};
		if (pthread_create(&t[i], NULL, start_one, &st[i]) != 0)
			die("thread: %s", strerror(errno));
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < n; i++) {
		if (st[i].h <= 0) {
			fprintf(stderr, "harness: instance %d: %s\n", i, st[i].err);
			continue;
		}
		started++;
		char *json = fetch(vnet_status, st[i].h);
		char addr[1][ITEM_LEN];
		if (json_strings(json, "tun_addr6", addr, 1) == 1) {
			if (!first[0])
				snprintf(first, sizeof first, "%s", addr[0]);
			same += strcmp(first, addr[0]) == 0;
		}
		free(json);
	}
	for (int i = 0; i < n; i++)
		if (st[i].h > 0 && vnet_stop(st[i].h) != 0)
			die("vnet_stop failed");
	printf("together: %d of %d started; %d with the IPv6 address %s\n", started, n, same, first);
	return started == n && same == n ? 0 : 1;
}

/* ---- slowstart: apply_settings that does not return ---- */

static pthread_mutex_t slow_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slow_cv = PTHREAD_COND_INITIALIZER;
static int slow_in, slow_release, slow_returned; /* guarded by slow_mu */

/* slow_apply waits until the harness lets it go, as a Network Extension
 * would whose setTunnelNetworkSettings never completes. */
static int slow_apply(void *ctx, const char *json, char *err, size_t err_len) {
	(void)ctx, (void)json;
	pthread_mutex_lock(&slow_mu);
	slow_in = 1;
	while (!slow_release)
		pthread_cond_wait(&slow_cv, &slow_mu);
	slow_returned = 1;
	pthread_cond_broadcast(&slow_cv);
	pthread_mutex_unlock(&slow_mu);
	snprintf(err, err_len, "too late");
	return 1;
}
static const vnet_callbacks slow_callbacks = {.write_packets = quiet_write, .apply_settings = slow_apply, .log = log_line};

static int mode_slowstart(const char *config) {
	char err[512];
	int64_t h = vnet_start(config, &slow_callbacks, NULL, err, sizeof err);
	pthread_mutex_lock(&slow_mu);
	int running = slow_in && !slow_returned;
	slow_release = 1;
	pthread_cond_broadcast(&slow_cv);
	while (slow_in && !slow_returned)
		pthread_cond_wait(&slow_cv, &slow_mu);
	pthread_mutex_unlock(&slow_mu);
	if (h > 0) {
		vnet_stop(h);
		die("vnet_start succeeded with an apply_settings that never returned");
	}
	if (!running)
		die("vnet_start returned, but apply_settings was not running: %s", err);
	printf("slowstart: vnet_start returned while apply_settings ran: %s\n", err);
	/* VNet lets go of the instance once apply_settings has returned; a
	 * start after it works. */
	h = vnet_start(config, &quiet_callbacks, NULL, err, sizeof err);
	if (h <= 0)
		die("vnet_start after the slow one: %s", err);
	vnet_stop(h);
	printf("slowstart: and VNet starts again afterwards\n");
	return 0;
}

static int usage(void) {
	fprintf(stderr, "usage: harness [-t TUN] run CONFIG.json | cycle CONFIG.json N | limits CONFIG.json | together CONFIG.json N | slowstart CONFIG.json | profiles DIR\n");
	return 2;
}

int main(int argc, char **argv) {
	if (argc >= 3 && strcmp(argv[1], "-t") == 0) {
		tun_name = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc == 3 && strcmp(argv[1], "profiles") == 0) {
		char buf[1 << 16];
		int n = vnet_profiles(argv[2], buf, sizeof buf);
		if (n < 0 || (size_t)n >= sizeof buf)
			die("vnet_profiles: %d", n);
		printf("%s\n", buf);
		return strstr(buf, "\"error\"") ? 1 : 0;
	}
	if (argc < 3)
		return usage();
	if (pipe2(wake, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	config = read_file(argv[2]);
	int rc = 2;
	if (strcmp(argv[1], "together") == 0 && argc == 4)
		rc = mode_together(config, atoi(argv[3]));
	else if (strcmp(argv[1], "slowstart") == 0 && argc == 3)
		rc = mode_slowstart(config);
	else if (strcmp(argv[1], "run") == 0 && argc == 3) {
		open_tun();
		rc = mode_run(config);
	} else if (strcmp(argv[1], "cycle") == 0 && argc == 4) {
		open_tun();
		rc = mode_cycle(config, atoi(argv[3]));
	} else if (strcmp(argv[1], "limits") == 0 && argc == 3) {
		open_tun();
		rc = mode_limits(config);
	} else
		usage();
	free(config);
	return rc;
}
