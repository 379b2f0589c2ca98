#!/usr/bin/env bash
# End-to-end tests of the bridge's C API (bridge/vnet.h): the C harness,
# linked against the Linux c-archive, drives the same calls the macOS
# Network Extension makes, over a real TUN in the user namespace of the test
# world (scripts/lib/world.sh): a real cluster, nginx as the app and dnsmasq
# as the upstream resolver. Needs root. Prints "bridge-e2e: N passed, N
# failed" and exits non-zero on any failure.
source "$(dirname "$0")/lib/world.sh"

source "$(dirname "$0")/lib/checks.sh"

world_up

log "building the c-archive and the C harness (make bridge)"
make -C "$REPO" --no-print-directory BIN="$WORK/bin" bridge >/dev/null
HARNESS=$WORK/bin/vnet-harness

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

log "harness run: VNet through the C API on a real TUN"
bg harness "$NS_USER" "$HARNESS" run "$WORK/bridge.json"
HARNESS_PID=$BG_PID
wait_for "the harness" grep -q "VNet is up" "$WORK/harness.log"
check "the TUN has network+1" outputs ' 100\.64\.0\.1/32 ' in_user ip -o addr show dev vnetb0
check "the range is routed to the TUN" outputs '^100\.64\.0\.0/10 ' in_user ip route show dev vnetb0
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

log "start/stop 50 times: no goroutine or file descriptor leaks"
cycles() {
	in_user "$HARNESS" cycle "$WORK/bridge.json" 50 >"$WORK/cycle.log" 2>&1 || { tail -n 20 "$WORK/cycle.log"; return 1; }
	grep -q '^cycle: 50 starts and stops' "$WORK/cycle.log"
}
check "50 cycles, goroutines and fds back to the baseline" cycles
grep '^cycle:' "$WORK/cycle.log" || true

summary bridge-e2e
