#!/usr/bin/env bash
# End-to-end tests of logins that follow the user while VNet runs: a login
# to a second cluster, a logout, a certificate that expires during the run
# (the second cluster's cert_ttl is one minute) and the re-login after it,
# all without restarting `vnet up`. Needs root. Prints "N passed, N failed"
# and exits non-zero on any failure.
source "$(dirname "$0")/lib/world.sh"
source "$(dirname "$0")/lib/checks.sh"

ROOT2=proxy.root2.test:3082

world_up

log "root (vnet.test): zone company.test in 100.64.0.0/16"
vnet_config_yaml 100.64.0.0/16 company.test >"$WORK/root-config.yaml"
ctl create "$WORK/root-config.yaml" >/dev/null

log "second root (root2.test): one app, zone corp2.test in 100.80.0.0/16, certificates valid one minute"
web_app root2 8092 "hello from root2-app"
extra_cluster root2.test "${ROOT2%%:*}" "${ROOT2##*:}" root2-app 8092 root2-app.corp2.test
printf 'auth_service:\n  cert_ttl: 1m\n' >>"$WORK/root2.test/cluster.yaml"
kill -TERM "$CLUSTER_PID"
for _ in $(seq 50); do kill -0 "$CLUSTER_PID" 2>/dev/null || break; sleep 0.1; done
start_cluster root2.test
vnet_config_yaml 100.80.0.0/16 corp2.test >"$WORK/root2-config.yaml"
ctl_in root2.test create "$WORK/root2-config.yaml" >/dev/null
ROOT2_PIN=$(ctl_in root2.test status | awk '/CA pin/ {print $3}')

log "alice logs in to the root only and starts VNet"
check "login to the root" in_user "$VNET" login --proxy="$PROXY" --user=alice --token="$(ctl users add alice --roles=dev | signup_token)" --no-password --ca-pin="$CA_PIN"
vnet_up

fetch() { in_user curl -sf --max-time 10 "http://$1:$2/"; }
root2_works() { [ "$(fetch root2-app.corp2.test 8092)" = "hello from root2-app" ]; }
root2_unknown() { [ -z "$(in_user dig +short +time=2 +tries=1 root2-app.corp2.test)" ]; }
check "the root's app works" outputs '^hello from tcp-app$' fetch tcp-app.company.test 8080
check "before the login the second root's app has no address" root2_unknown

log "a login while VNet runs"
echo "alice-secret-pw" >"$WORK/alice-pw"
check "login to the second root (sets a password)" in_user "$VNET" login --proxy="$ROOT2" --user=alice \
	--token="$(ctl_in root2.test users add alice --roles=dev | signup_token)" --ca-pin="$ROOT2_PIN" --new-password-file="$WORK/alice-pw"
wait_for "the second root's app after the login" root2_works
check "curl reaches the second root's app without a restart" root2_works
check "vnet status lists the second root" outputs 'root2\.test' in_user "$VNET" status --state-dir "$WORK/state"

log "a logout while VNet runs"
check "vnet logout --proxy removes the profile" outputs "Logged out of $ROOT2" in_user "$VNET" logout --proxy="$ROOT2"
check "the profile's key is gone" test ! -e "$WORK/home/profiles/${ROOT2%%:*}_${ROOT2##*:}/key.pem"
wait_for "the second root's app to go" root2_unknown
check "after the logout the second root's name is not VNet's any more" root2_unknown
check "the root's app still works" outputs '^hello from tcp-app$' fetch tcp-app.company.test 8080
expect_fail "vnet logout of a cluster not logged in to says so" 'not logged in to' in_user "$VNET" logout --proxy="$ROOT2"

log "a certificate that expires during the run (cert_ttl 1m)"
check "login to the second root again with the password (the CA is pinned again: the logout removed it)" in_user "$VNET" login --proxy="$ROOT2" --user=alice --password-file="$WORK/alice-pw" --ca-pin="$ROOT2_PIN"
wait_for "the second root's app after the re-login" root2_works
expired() { in_user "$VNET" status --state-dir "$WORK/state" | grep -q 'certificate expired at'; }
for _ in $(seq 90); do expired && break; sleep 1; done
check "vnet status says the certificate expired and how to renew it" outputs "certificate expired at .*vnet login --proxy=$ROOT2" in_user "$VNET" status --state-dir "$WORK/state"
check "DNS still answers the app's name" outputs '^100\.80\.' in_user dig +short root2-app.corp2.test
# curl's exit code 7 is "connection refused" (a RST), 28 a time-out: the
# engine refuses at once instead of waiting for a dial to fail.
refused() {
	local rc=0
	in_user curl -s --max-time 8 "http://root2-app.corp2.test:8092/" >/dev/null || rc=$?
	[ "$rc" -eq 7 ] || { echo "curl exit code $rc, want 7 (connection refused)"; return 1; }
}
check "a connection to the expired cluster's app is refused (RST)" refused
check "the root's app still works" outputs '^hello from tcp-app$' fetch tcp-app.company.test 8080

log "the re-login after expiry: no restart"
check "login with the password" in_user "$VNET" login --proxy="$ROOT2" --user=alice --password-file="$WORK/alice-pw"
wait_for "the second root's app after the re-login" root2_works
check "curl reaches the second root's app again" root2_works
check "vnet up never restarted" kill -0 "$VNET_UP_PID"

log "what a running VNet says is true (issue 14)"
st() { in_user "$VNET" status --state-dir "$WORK/state"; }
expect_fail "a second vnet up says VNet is already running" 'VNet is already running \(pid [0-9]+\)' in_user "$VNET" up --state-dir "$WORK/state"
check "the first vnet up still runs" kill -0 "$VNET_UP_PID"
check "the second root removes alice" ctl_in root2.test users rm alice
check "vnet status: the removed user's login is a problem with its next step" \
	outputs "^problem: cluster root2\.test \($ROOT2\): login refused: .*; next: ask your administrator" st
root2_connected() { st | grep -Eq "^root2\.test +connected"; }
check "vnet status does not call that cluster connected" fails '' root2_connected
diag_login() { in_user "$VNET" diag --state-dir "$WORK/state" 2>&1 | grep -E ' login to root2\.test' || true; }
check "vnet diag fails the removed user's login, never ok login beside FAIL" outputs '^FAIL login to root2\.test as alice .*the cluster refuses this login' diag_login
kill -TERM "$CLUSTER_PID"
for _ in $(seq 50); do kill -0 "$CLUSTER_PID" 2>/dev/null || break; sleep 0.1; done
check "vnet status: a proxy that does not answer is unreachable, in words" \
	outputs "^problem: cluster root2\.test \($ROOT2\): unreachable: .*nothing accepts connections at .*; next: VNet retries" st
expect_fail "vnet apps exits 1 and names the unreachable cluster on its own line" '^cluster root2\.test \(proxy\.root2\.test:3082\) could not be asked: ' in_user "$VNET" apps

log "kill -9 of vnet up: vnet status notices the resolver it left, vnet down restores it"
kill -KILL "$VNET_UP_PID"
for _ in $(seq 50); do kill -0 "$VNET_UP_PID" 2>/dev/null || break; sleep 0.1; done
vnet_resolv() { in_user grep -q '^# Generated by VNet' /etc/resolv.conf; }
check "after kill -9 resolv.conf still points at VNet" vnet_resolv
expect_fail "vnet status: not running, and the stale resolver with how to fix it" \
	'still points at a VNet \(pid [0-9]+\) that stopped without cleaning up.*sudo vnet down' st
check "vnet down restores it" outputs '^VNet is not running; (restored /etc/resolv\.conf|undid what a VNet that stopped without cleaning up had left \(its routing rules, device and resolver settings\))' in_user "$VNET" down --state-dir "$WORK/state"
check "resolv.conf is the original again" fails '' vnet_resolv
expect_fail "vnet down did not start VNet" '^ERROR: VNet is not running: start it with' st
check "vnet down again: nothing to undo" outputs 'left nothing to undo' in_user "$VNET" down --state-dir "$WORK/state"
log "vnet down stops a running VNet"
vnet_up
check "vnet down stops it" outputs '^VNet \(pid [0-9]+\) stopped; network settings restored' in_user "$VNET" down --state-dir "$WORK/state"
check "vnet up has exited" fails '' kill -0 "$VNET_UP_PID"
check "resolv.conf is the original after vnet down" fails '' vnet_resolv

summary "e2e-logins"
