#!/usr/bin/env bash
# End-to-end tests of the bridge's C API (bridge/vnet.h): the C harness,
# linked against the Linux c-archive, drives the same calls the macOS
# Network Extension makes, over a real TUN in the user namespace of the test
# world (scripts/lib/world.sh): a real cluster, nginx as the app and dnsmasq
# as the upstream resolver. Needs root. Prints "bridge-e2e: N passed, N
# failed" and exits non-zero on any failure.
#
#   scripts/bridge-e2e.sh              the c-archive and harness of `make bridge`
#   scripts/bridge-e2e.sh --sanitize   the same checks with the c-archive built
#                                      by `go build -asan` and the harness by
#                                      clang -fsanitize=address,undefined
#                                      (`make bridge-asan`; installs clang
#                                      with apt-get when missing): any report
#                                      of ASan, LSan or UBSan fails
SANITIZE=""
[ "${1:-}" = "--sanitize" ] && SANITIZE=1
source "$(dirname "$0")/lib/world.sh"

source "$(dirname "$0")/lib/checks.sh"

if [ -n "$SANITIZE" ] && ! echo '#include <sanitizer/asan_interface.h>' | clang -E -x c - >/dev/null 2>&1; then
	log "installing clang and its sanitizer runtimes (apt-get)"
	apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null
fi

world_up

if [ -n "$SANITIZE" ]; then
	log "building the c-archive with go build -asan and the C harness with ASan+UBSan (make bridge-asan)"
	make -C "$REPO" --no-print-directory BIN="$WORK/bin" bridge-asan >/dev/null
	HARNESS=$WORK/bin/asan/vnet-harness
	# Every report goes to a file of its own; the last check fails if there
	# is one. Leaks are reported when each harness process exits.
	mkdir -p "$WORK/sanitizer"
	export ASAN_OPTIONS="log_path=$WORK/sanitizer/asan:detect_leaks=1:abort_on_error=0"
	export UBSAN_OPTIONS="log_path=$WORK/sanitizer/ubsan:print_stacktrace=1:halt_on_error=1"
else
	log "building the c-archive and the C harness (make bridge)"
	make -C "$REPO" --no-print-directory BIN="$WORK/bin" bridge >/dev/null
	HARNESS=$WORK/bin/vnet-harness
fi

log "admin: the custom DNS zone and the role dev; user: sign up and log in (as scripts/e2e.sh)"
vnet_config_yaml company.test >"$WORK/vnet-config.yaml"
ctl create "$WORK/vnet-config.yaml" >/dev/null
# The role alice gets: every app (tcp-app and down-app) is hers to reach.
printf 'kind: role\nversion: v1\nmetadata:\n  name: dev\nspec:\n  allow:\n    app_labels: {"*": "*"}\n' >"$WORK/role.yaml"
ctl create -f "$WORK/role.yaml" >/dev/null
out=$(ctl users add alice --roles=dev)
token=$(signup_token <<<"$out")
[ -n "$token" ] || die "no token in: $out"
in_user "$VNET" login --proxy="$PROXY" --user=alice --token="$token" --no-password --ca-pin="$CA_PIN" >/dev/null

# The config the extension would pass: the profiles folder, upstream DNS
# taken from the namespace's resolv.conf (the test upstream, dnsmasq).
echo "{\"profile_dir\": \"$WORK/home\", \"log_level\": \"debug\"}" >"$WORK/bridge.json"

log "vnet_profiles: the menu-bar app's list of logins"
check "vnet_profiles lists the login" outputs '"cluster":"vnet.test","proxy":"proxy.vnet.test:3080","user":"alice"' in_user "$HARNESS" profiles "$WORK/home"
check "vnet_profiles says why the list is empty" fails 'not logged in' in_user "$HARNESS" profiles "$WORK"

log "vnet_start with bad input: one line, nothing started"
echo '{"profile_dir": "'"$WORK/home"'", "mtu": 9}' >"$WORK/bad.json"
check "bad mtu is refused with one line" fails '^harness: vnet_start: config: mtu 9: at least 1280 \(IPv6 needs it\)$' in_user "$HARNESS" run "$WORK/bad.json"
echo '{"profile_dir": "'"$WORK"'"}' >"$WORK/nologin.json"
check "no login is refused" fails 'vnet_start: not logged in' in_user "$HARNESS" run "$WORK/nologin.json"
check "no TUN is left behind by a failed start" fails 'not exist' in_user ip link show vnetb0
# bad_config NAME JSON-FIELDS PATTERN: vnet_start refuses the config with
# one line matching PATTERN.
bad_config() {
	echo '{"profile_dir": "'"$WORK/home"'"'"$2"'}' >"$WORK/bad.json"
	check "$1" fails "^harness: vnet_start: config: $3" in_user "$HARNESS" run "$WORK/bad.json"
}
mkfifo "$WORK/resolv.fifo"
bad_config "a FIFO as resolv_conf is refused, not waited on" ', "resolv_conf": "'"$WORK/resolv.fifo"'"' '.*not a regular file \(a FIFO\)$'
bad_config "/dev/zero as resolv_conf is refused, not read" ', "resolv_conf": "/dev/zero"' '.*not a regular file \(a character device\)$'
bad_config "a field name in another case is refused" ', "MTU": 1500' 'unknown field "MTU": did you mean "mtu"\?'
bad_config "a field given twice is refused" ', "mtu": 1500, "mtu": 1280' 'field "mtu" is given twice$'
bad_config "trailing data is refused" '}]' '(trailing data|not JSON)'
bad_config "start_timeout_ms that overflowed is refused" ', "start_timeout_ms": 9223372036854775' 'start_timeout_ms 9223372036854775: want a whole number from 1 to 600000'
bad_config "mtu 0 is refused" ', "mtu": 0' 'mtu 0: at least 1280'

log "instances started at once on one profile_dir share one ULA prefix (its file made once)"
rm -f "$WORK/home/ula-prefix"
check "8 instances started at once from 8 threads, one IPv6 prefix" outputs '^together: 8 of 8 started; 8 with the IPv6 address fd' in_user "$HARNESS" together "$WORK/bridge.json" 8
check "the ULA prefix file holds one /64" outputs '^fd[0-9a-f:]+::/64$' cat "$WORK/home/ula-prefix"

log "start_timeout_ms bounds vnet_start even when apply_settings never returns"
echo "{\"profile_dir\": \"$WORK/home\", \"start_timeout_ms\": 5000}" >"$WORK/slow.json"
in_user "$HARNESS" slowstart "$WORK/slow.json" >"$WORK/slowstart.log" 2>&1 || true
check "vnet_start returned while apply_settings still ran" outputs '^slowstart: vnet_start returned while apply_settings ran: VNet did not come up within 5s: apply_settings has not returned' cat "$WORK/slowstart.log"
check "VNet starts again once that apply_settings has returned" outputs '^slowstart: and VNet starts again afterwards$' cat "$WORK/slowstart.log"

log "harness run: VNet through the C API on a real TUN"
bg harness "$NS_USER" "$HARNESS" run "$WORK/bridge.json"
HARNESS_PID=$BG_PID
wait_for "the harness" grep -q "VNet is up" "$WORK/harness.log"
check "the TUN has network+1" outputs ' 100\.64\.0\.1/32 ' in_user ip -o addr show dev vnetb0
check "the range is routed to the TUN" outputs '^100\.64\.0\.0/10 ' in_user ip route show dev vnetb0
check "the ULA /64 is routed to the TUN" outputs "^$(cut -d/ -f1 "$WORK/home/ula-prefix")/64 " in_user ip -6 route show dev vnetb0
settings=$(grep '^harness: settings ' "$WORK/harness.log" | tail -n 1)
check "settings JSON: the custom zone is a match domain" outputs '"match_domains":\[[^]]*"company\.test"' echo "$settings"
check "settings JSON: the proxy's domain is a match domain" outputs '"match_domains":\[[^]]*"proxy\.vnet\.test"' echo "$settings"
check "settings JSON: match domains stay out of the search list" outputs '"match_domains_no_search":true' echo "$settings"
check "settings JSON: the route with its subnet mask" outputs '"destination_address":"100\.64\.0\.0","subnet_mask":"255\.192\.0\.0"' echo "$settings"

app_ip=$(in_user dig +short +time=5 @100.64.0.2 tcp-app.company.test || true)
check "dig @100.64.0.2 tcp-app.company.test answers in 100.64.0.0/10 ($app_ip)" outputs '^100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.[0-9]+\.[0-9]+$' echo "$app_ip"
check "dig over TCP answers the same" outputs "^$app_ip\$" in_user dig +tcp +short @100.64.0.2 tcp-app.company.test
check "a name only the upstream knows is forwarded" outputs '^192\.0\.2\.50$' in_user dig +short @100.64.0.2 only-upstream.test
check "curl by name (--resolve) reaches the app through the cluster" outputs '^hello from tcp-app$' \
	in_user curl -sf --max-time 10 --resolve "tcp-app.company.test:8080:$app_ip" http://tcp-app.company.test:8080/
big_intact() { [ "$(in_user curl -sf --max-time 30 "http://$app_ip:8080/big.bin" | sha256sum)" = "$(sha256sum <"$WORK/www/big.bin")" ]; }
check "4 MiB download by address is intact" big_intact
check "app that is down: connection refused" fails 'refused|Failed to connect' in_user curl -sS --max-time 10 http://"$(in_user dig +short @100.64.0.2 down-app.company.test)":8080/

# lines_over PATTERN N: the harness log has more than N lines matching.
lines_over() { [ "$(grep -c -- "$1" "$WORK/harness.log")" -gt "$2" ]; }

# status_has PATTERN: SIGUSR1 makes the harness print vnet_status's JSON.
status_has() {
	local before
	before=$(grep -c '^{"state"' "$WORK/harness.log" || true)
	kill -USR1 "$HARNESS_PID"
	wait_for "status" lines_over '^{"state"' "$before"
	grep '^{"state"' "$WORK/harness.log" | tail -n 1 | grep -qE -- "$1"
}
check "vnet_status: running, the app with its address" status_has "\"state\":\"running\".*\"public_addr\":\"tcp-app.company.test\",\"ipv4\":\"$app_ip\""
check "vnet_status: packets both ways, process figures" status_has '"injected":[1-9][0-9]*,"inject_dropped":0,"written":[1-9].*"goroutines":[1-9][0-9]*,"open_fds":[1-9]'
diagnosis_ok() {
	kill -USR2 "$HARNESS_PID"
	wait_for "diagnosis" grep -q '^{"checks"' "$WORK/harness.log"
	local d
	d=$(grep '^{"checks"' "$WORK/harness.log" | tail -n 1)
	grep -q '"ok":true' <<<"$d" && ! grep -q '"ok":false' <<<"$d" || { echo "$d"; return 1; }
}
check "vnet_diagnose: every check passes" diagnosis_ok

log "harness stops: vnet_stop, then the handle is dead"
kill -TERM "$HARNESS_PID"
for _ in $(seq 100); do kill -0 "$HARNESS_PID" 2>/dev/null || break; sleep 0.1; done
check "the harness stopped cleanly" outputs '^harness: stopped$' cat "$WORK/harness.log"
check "the TUN is gone with the harness" fails 'not exist' in_user ip link show vnetb0

# BRIDGE_CYCLES (50) rounds; more show whether the printed RSS grows per
# round or steps once.
CYCLES=${BRIDGE_CYCLES:-50}
log "start/stop $CYCLES times: no goroutine or file descriptor leaks"
cycles() {
	in_user "$HARNESS" cycle "$WORK/bridge.json" "$CYCLES" >"$WORK/cycle.log" 2>&1 || { tail -n 20 "$WORK/cycle.log"; return 1; }
	grep -q "^cycle: $CYCLES starts and stops" "$WORK/cycle.log"
}
check "$CYCLES cycles, goroutines and fds back to the baseline" cycles
grep '^cycle:' "$WORK/cycle.log" || true

log "the C API at its edges: lengths up to SIZE_MAX, the call-again recipe while packets flow, NULs in errors"
in_user "$HARNESS" limits "$WORK/bridge.json" >"$WORK/limits.log" 2>&1 || true
for name in \
	"inject: lengths SIZE_MAX, 2^63 and MTU+1 are dropped unread" \
	"inject: counts SIZE_MAX, 2^63 and VNET_INJECT_MAX+1 are refused" \
	"inject: VNET_INJECT_MAX NULL packets in one call" \
	"status: buf_len SIZE_MAX" \
	"status: buf_len 2^63" \
	"profiles: buf_len SIZE_MAX" \
	"start: err_len SIZE_MAX" \
	"diagnose: buf_len SIZE_MAX" \
	"start: an error with a NUL inside is not cut short" \
	"status: the call-again recipe holds while packets flow" \
	"diagnose: the retry returns the report measured"; do
	check "$name" grep -qxF "ok $name" "$WORK/limits.log"
done
grep -E '^(FAIL|limits:|harness:|panic|fatal)' "$WORK/limits.log" || true

if [ -n "$SANITIZE" ]; then
	no_reports() {
		local f found=""
		for f in "$WORK"/sanitizer/*; do
			[ -e "$f" ] || continue
			found=1
			echo "== $f"
			head -n 40 "$f"
		done
		[ -z "$found" ]
	}
	check "no ASan, LSan or UBSan report from any harness run" no_reports
fi

summary "bridge-e2e${SANITIZE:+ (sanitizers)}"
