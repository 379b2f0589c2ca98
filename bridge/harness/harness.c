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
 *
 * Settings are applied with `ip` (address, MTU, routes); DNS is not
 * configured: query VNet's DNS address directly. Exit status 0 on success,
 * 1 on failure; messages go to stderr, JSON to stdout.
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

static void die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs("harness: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
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
 * and prefixes, never escaped); anything else is an error.
 */
static int json_strings(const char *json, const char *key, char out[][ITEM_LEN], int max) {
	char pat[64];
	int n = 0;
	snprintf(pat, sizeof pat, "\"%s\":", key);
	for (const char *p = strstr(json, pat); p; p = strstr(p, pat)) {
		p += strlen(pat);
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
	/* The settings are complete: routes that are no longer in them go. */
	if (run_ip(err, err_len, (const char *[]){"-4", "route", "flush", "dev", tun_name, NULL}))
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
		if (n < 0)
			die("JSON call failed: %d", n);
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
	size_t n = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	if (n == 0)
		die("%s is empty", path);
	return buf;
}

/* ---- modes ---- */

static void on_signal(int sig) {
	char c = sig == SIGUSR1 ? 's' : sig == SIGUSR2 ? 'd' : 't';
	if (write(wake[1], &c, 1) < 0) {
	}
}

static int mode_run(const char *config) {
	struct sigaction sa = {.sa_handler = on_signal};
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

static int mode_cycle(const char *config, int n) {
	int g0 = 0, f0 = 0, g = 0, f = 0;
	if (n < 2)
		die("cycle needs at least 2 rounds");
	for (int i = 1; i <= n; i++) {
		int64_t h = start(config);
		/* Round 1 starts what lives for the process (runtime, caches);
		 * round 2 is the baseline. */
		if (i == 2) {
			g0 = stat_of(h, "goroutines");
			f0 = stat_of(h, "open_fds");
		}
		if (i == n) {
			g = stat_of(h, "goroutines");
			f = stat_of(h, "open_fds");
		}
		if (vnet_stop(h) != 0)
			die("vnet_stop %d failed", i);
	}
	printf("cycle: %d starts and stops; goroutines %d -> %d, open fds %d -> %d\n", n, g0, g, f0, f);
	if (g > g0 + SLACK_GOROUTINES || f > f0 + SLACK_FDS) {
		fprintf(stderr, "harness: leak: goroutines %d -> %d (slack %d), fds %d -> %d (slack %d)\n", g0, g, SLACK_GOROUTINES, f0, f, SLACK_FDS);
		return 1;
	}
	return 0;
}

static int usage(void) {
	fprintf(stderr, "usage: harness [-t TUN] run CONFIG.json | cycle CONFIG.json N | profiles DIR\n");
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
	char *config = read_file(argv[2]);
	open_tun();
	if (strcmp(argv[1], "run") == 0 && argc == 3)
		return mode_run(config);
	if (strcmp(argv[1], "cycle") == 0 && argc == 4)
		return mode_cycle(config, atoi(argv[3]));
	return usage();
}
