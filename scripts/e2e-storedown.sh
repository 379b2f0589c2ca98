#!/usr/bin/env bash
# End-to-end test of a cluster whose store is down (issue 13, "When the
# store is down"): three etcd members on the cluster namespace's loopback,
# two proxies of one cluster on them, one `vnet up` in the user namespace.
# With two members stopped (quorum lost): a connection opened before keeps
# going, DNS answers for known apps, a new connection is authorized from
# the proxy's copy of the store, `vnet ctl create` fails within 2 s with
# one line naming the store, `ctl status` and `vnet status` say degraded.
# With the members started again everything comes back by itself: status
# connected, create works, and the new app reaches VNet. Needs root.
# Prints "N passed, N failed" and exits non-zero on any failure.
source "$(dirname "$0")/lib/world.sh"
source "$(dirname "$0")/lib/checks.sh"

WORLD_NO_CLUSTER=1 world_up

# The members, on the cluster namespace's own loopback: name client peer.
MEMBERS=("m1 2379 2380" "m2 2381 2382" "m3 2383 2384")
INITIAL=$(for m in "${MEMBERS[@]}"; do set -- $m; printf '%s=http://127.0.0.1:%s,' "$1" "$3"; done)
INITIAL=${INITIAL%,}
PEERS=$(for m in "${MEMBERS[@]}"; do set -- $m; printf 'http://127.0.0.1:%s, ' "$2"; done)
PEERS="[${PEERS%, }]"
# start_member INDEX: start (or start again, on its data) member INDEX;
# its PID is left in ETCD_PID_<name>.
start_member() {
	local name client peer
	read -r name client peer <<<"${MEMBERS[$1]}"
	bg "etcd-$name" "$NS_CLUSTER" etcd --name "$name" --data-dir "$WORK/etcd-$name" \
		--listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
		--listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "$INITIAL" --initial-cluster-state new --initial-cluster-token vnet-e2e-storedown
	eval "ETCD_PID_$name=\$BG_PID"
}
stop_member() { # NAME
	local pid
	eval "pid=\$ETCD_PID_$1"
	kill -TERM "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	die "etcd member $1 did not stop"
}
etcd_healthy() { in_cluster curl -sf "http://127.0.0.1:${1}/health" | grep -q '"health":"true"'; }

log "three etcd members on 127.0.0.1 in $NS_CLUSTER"
for i in 0 1 2; do start_member "$i"; done
wait_for "etcd quorum" etcd_healthy 2379

log "two proxies of cluster vnet.test on that etcd"
# proxy_yaml NAME PORT: proxy NAME's cluster.yaml, listening on PORT.
proxy_yaml() {
	mkdir -p "$WORK/$1"
	cat >"$WORK/$1/cluster.yaml" <<-EOF
		version: v1
		cluster_name: vnet.test
		data_dir: $WORK/$1/data
		proxy_service:
		  listen_addr: $CLUSTER_IP:$2
		  public_addr: $PROXY
		storage:
		  type: etcd
		  peers: $PEERS
		app_service:
		  enabled: true
		  apps:
		    - name: tcp-app
		      uri: tcp://127.0.0.1:$APP_PORT
		      public_addr: tcp-app.company.test
		      labels: {env: dev}
	EOF
}
proxy_yaml a 3080
proxy_yaml b 3081
start_cluster a
start_cluster b
export VNET_CLUSTER_CONFIG=$WORK/a/cluster.yaml # ctl: proxy A; ctl_in b: proxy B
CA_PIN=$(ctl status | awk '/CA pin/ {print $3}')

log "admin: zone company.test; alice (role dev) logs in through proxy A; vnet up"
vnet_config_yaml company.test >"$WORK/vnet-config.yaml"
ctl create "$WORK/vnet-config.yaml" >/dev/null
token=$(ctl users add alice --roles=dev | signup_token)
check "login" in_user "$VNET" login --proxy="$PROXY" --user=alice --token="$token" --no-password --ca-pin="$CA_PIN"
vnet_up
fetch() { in_user curl -sf --max-time 10 "http://$1/"; }
check "tcp-app by name before the outage" outputs '^hello from tcp-app$' fetch tcp-app.company.test:8080
check "ctl status: the store and state ok" outputs '^State +ok$' ctl status
vnet_state() { in_user "$VNET" status --state-dir "$WORK/state"; }
check "vnet status: connected" outputs '^vnet\.test +connected' vnet_state

log "a slow download through VNet, then two of three members stop (quorum lost)"
bg slow "$NS_USER" curl -sf --limit-rate 256k -o "$WORK/slow.bin" http://tcp-app.company.test:8080/big.bin
SLOW_PID=$BG_PID
sleep 1
stop_member m2
stop_member m3
degraded() { ctl status | grep -qE '^State +degraded: store unavailable: etcd at '; }
wait_for "proxy A to report its store down" degraded
check "ctl status (proxy A) says degraded, naming the store" \
	outputs '^State +degraded: store unavailable: etcd at http://127\.0\.0\.1:2379' ctl status
check "ctl status (proxy B) says degraded too" outputs '^State +degraded: store unavailable: etcd' ctl_in b status

check "DNS answers for a known app" outputs '^100\.' in_user getent ahostsv4 tcp-app.company.test
check "a new connection is authorized from the proxy's copy (curl by name)" outputs '^hello from tcp-app$' fetch tcp-app.company.test:8080
check "ctl get apps answers from the copy" outputs '^tcp-app ' ctl get apps --format text

printf 'kind: app\nversion: v1\nmetadata:\n  name: new-app\nspec:\n  uri: tcp://127.0.0.1:%s\n  public_addr: new-app.company.test\n' "$APP_PORT" >"$WORK/new-app.yaml"
# The issue's bound is 2 s, for a call that fails in a few hundred ms (the
# remaining member says "no leader" at once; the proxy's own bound on an
# etcd call is 1.5 s): the figure is printed, and the check is the text
# first, the bound second.
t0=$(date +%s%N)
out=$(ctl create "$WORK/new-app.yaml" 2>&1) && rc=0 || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
echo "     (ctl create with the store down: exit $rc after $ms ms: $out)"
check "ctl create fails with one line: store unavailable: etcd ..." \
	bash -c "[ $rc -ne 0 ] && [ \$(wc -l <<<\"\$1\") -eq 1 ] && grep -qE '^ERROR: store unavailable: etcd at http://127\.0\.0\.1:2379' <<<\"\$1\"" _ "$out"
check "ctl create fails within 2 s (took $ms ms)" test "$ms" -lt 2000
check "neither gRPC's nor the deadline's words" bash -c "! grep -qiE 'RST_STREAM|deadline exceeded' <<<\"\$1\"" _ "$out"
expect_fail "ctl users add fails the same way" '^ERROR: store unavailable: etcd at ' ctl users add carol --roles=dev
expect_fail "ctl create through proxy B fails the same way" '^ERROR: store unavailable: etcd at ' ctl_in b create "$WORK/new-app.yaml"

vnet_degraded() { vnet_state | grep -qE '^vnet\.test +degraded'; }
wait_for "vnet status to show the cluster degraded" vnet_degraded
check "vnet status: the cluster is degraded, with the store's words" \
	outputs 'store unavailable: etcd at ' vnet_state
check "vnet status does not say connected" bash -c "! ip netns exec $NS_USER env VNET_HOME=$WORK/home $VNET status --state-dir $WORK/state | grep -qE '^vnet\.test +connected'"

log "the download opened before the outage completes"
wait "$SLOW_PID" && slow_rc=0 || slow_rc=$?
check "curl of big.bin exited 0" test "$slow_rc" -eq 0
check "and its bytes are the app's" same_sha cat "$WORK/slow.bin" "$WORK/www/big.bin"

log "the members start again: everything comes back by itself"
start_member 1
start_member 2
wait_for "etcd quorum again" etcd_healthy 2381
recovered() { ctl status | grep -qE '^State +ok$'; }
wait_for "proxy A to report its store back" recovered
check "ctl status (proxy A): ok" outputs '^State +ok$' ctl status
b_recovered() { ctl_in b status | grep -qE '^State +ok$'; }
wait_for "proxy B to report its store back" b_recovered
vnet_connected() { vnet_state | grep -qE '^vnet\.test +connected'; }
wait_for "vnet status to show the cluster connected" vnet_connected
check "vnet status: connected" outputs '^vnet\.test +connected' vnet_state
check "ctl create through proxy B works" outputs 'new-app.*created' ctl_in b create "$WORK/new-app.yaml"
new_app() { [ "$(fetch new-app.company.test:8080)" = "hello from tcp-app" ]; }
wait_for "the new app (written through B) to reach VNet (watching A)" new_app
check "curl new-app.company.test through VNet" outputs '^hello from tcp-app$' fetch new-app.company.test:8080
check "tcp-app still works" outputs '^hello from tcp-app$' fetch tcp-app.company.test:8080

summary e2e-storedown
