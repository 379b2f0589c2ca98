#!/usr/bin/env bash
# End-to-end tests of names and who owns them on the laptop: apps without a
# public_addr at <name>.<proxy host>; two root clusters that report the same
# cluster name (vnet.test), each reached by name through its own tunnel; a
# third cluster whose zones (`co.uk`, a public suffix; company.test, the
# first login's) and range (inside the first login's) are refused, shown in `vnet status`, while every other name
# keeps working. Needs root. Prints "N passed, N failed" and exits non-zero
# on any failure.
source "$(dirname "$0")/lib/world.sh"
source "$(dirname "$0")/lib/checks.sh"

TWIN_RANGE=10.81.0.0/16
BAD_RANGE=100.100.0.0/16 # inside the first login's 100.64.0.0/10

world_up

app_yaml() { # NAME PORT [PUBLIC_ADDR]
	printf 'kind: app\nversion: v1\nmetadata:\n  name: %s\nspec:\n  uri: tcp://127.0.0.1:%s\n' "$1" "$2"
	[ -z "${3:-}" ] || printf '  public_addr: %s\n' "$3"
}

log "first root (vnet.test at $PROXY): zone company.test, and an app 'web' without public_addr"
vnet_config_yaml company.test >"$WORK/root-config.yaml"
ctl create "$WORK/root-config.yaml" >/dev/null
app_yaml web "$APP_PORT" >"$WORK/web.yaml"
check "vnet ctl create app without public_addr" outputs 'created' ctl create "$WORK/web.yaml"

log "second root, also called vnet.test (proxy.twin.test:3083): its own 'web', range $TWIN_RANGE"
web_app twin 8093 "hello from twin"
extra_cluster vnet.test proxy.twin.test 3083 twin-app 8093 twin-app.twin.test
vnet_config_yaml "$TWIN_RANGE" twin.test >"$WORK/twin-config.yaml"
ctl_in vnet.test create "$WORK/twin-config.yaml" >/dev/null
app_yaml web 8093 >"$WORK/twin-web.yaml"
ctl_in vnet.test create "$WORK/twin-web.yaml" >/dev/null

log "third root (bad.test at proxy.bad.test:3084): zones co.uk and company.test, range $BAD_RANGE"
# The cluster itself refuses a one-label zone such as `test`; `co.uk` has
# two labels but is a public suffix, which only the laptop knows to refuse.
web_app bad 8094 "hello from bad"
extra_cluster bad.test proxy.bad.test 3084 bad-app 8094 bad-app.co.uk
vnet_config_yaml "$BAD_RANGE" co.uk company.test >"$WORK/bad-config.yaml"
ctl_in bad.test create "$WORK/bad-config.yaml" >/dev/null
app_yaml plain 8094 >"$WORK/plain.yaml"
ctl_in bad.test create "$WORK/plain.yaml" >/dev/null

log "alice logs in to the three, in this order (the first login owns contested names)"
login() { # CTL-PREFIX... -- PROXY
	local proxy=${*: -1} pin token
	pin=$("${@:1:$#-1}" status | awk '/CA pin/ {print $3}')
	token=$("${@:1:$#-1}" users add alice --roles=dev | signup_token)
	in_user "$VNET" login --proxy="$proxy" --user=alice --token="$token" --no-password --ca-pin="$pin"
}
check "login to the first root" login ctl "$PROXY"
check "login to the second root, which reports the same name" login ctl_in vnet.test proxy.twin.test:3083
check "login to the third root" login ctl_in bad.test proxy.bad.test:3084
check "vnet apps shows the default address" outputs 'vnet\.test \(proxy\.vnet\.test:3080\) +web +web\.proxy\.vnet\.test +yes' in_user "$VNET" apps
check "vnet apps tells the twins apart by proxy" outputs 'vnet\.test \(proxy\.twin\.test:3083\) +web +web\.proxy\.twin\.test +yes' in_user "$VNET" apps
check "vnet apps says why bad-app has no name" outputs 'bad-app +bad-app\.co\.uk +no: its zone co\.uk was refused' in_user "$VNET" apps
vnet_up

log "default addresses: <app name>.<proxy host>"
fetch() { in_user curl -sf --max-time 10 "http://$1:$2/"; }
wait_for "web.proxy.twin.test" fetch web.proxy.twin.test 8093
check "curl web.proxy.vnet.test reaches the first root's web" outputs '^hello from tcp-app$' fetch web.proxy.vnet.test 8080
check "curl web.proxy.twin.test reaches the second root's web" outputs '^hello from twin$' fetch web.proxy.twin.test 8093
check "upper case works the same" outputs '^hello from twin$' fetch WEB.Proxy.Twin.Test 8093
check "the proxy's own name is still forwarded" outputs "^$CLUSTER_IP " in_user getent ahostsv4 proxy.twin.test

log "two clusters called vnet.test: kept apart by who they are"
ip_of() { in_user getent ahostsv4 "$1" | awk 'NR==1 {print $1}'; }
check "the first root's apps are in 100.64.0.0/10 ($(ip_of web.proxy.vnet.test))" outputs '^100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.' ip_of web.proxy.vnet.test
check "the twin's apps are in $TWIN_RANGE ($(ip_of web.proxy.twin.test))" outputs '^10\.81\.' ip_of web.proxy.twin.test
check "curl twin-app.twin.test reaches the twin" outputs '^hello from twin$' fetch twin-app.twin.test 8093
check "curl tcp-app.company.test reaches the first root" outputs '^hello from tcp-app$' fetch tcp-app.company.test 8080
check "vnet status lists both, each with its proxy" outputs 'vnet\.test +connected \([0-9]+ apps\) +[0-9: -]+ +proxy\.twin\.test:3083' in_user "$VNET" status --state-dir "$WORK/state"
check "vnet status lists the first, with its proxy" outputs 'vnet\.test +connected \([0-9]+ apps\) +[0-9: -]+ +proxy\.vnet\.test:3080' in_user "$VNET" status --state-dir "$WORK/state"
check "vnet status shows each web at its own address" outputs 'web +web\.proxy\.twin\.test +10\.81\.' in_user "$VNET" status --state-dir "$WORK/state"
check "the twin's audit names the dial" outputs 'web' ctl_in vnet.test audit --since 1h

log "refused claims: zone co.uk, a zone the first login holds, an overlapping range"
status() { in_user "$VNET" status --state-dir "$WORK/state" "$@"; }
check "vnet status: zone co.uk refused (public suffix)" outputs '^refused: zone co\.uk of cluster bad\.test \(proxy\.bad\.test:3084\) refused: co\.uk is a public suffix' status
check "vnet status: company.test refused (the first login holds it)" outputs '^refused: zone company\.test of cluster bad\.test .*inside company\.test of cluster vnet\.test \(proxy\.vnet\.test:3080\)' status
check "vnet status: the range refused (overlaps the first login's)" outputs "^refused: range ${BAD_RANGE//./\\.} of cluster bad\\.test .*overlaps 100\\.64\\.0\\.0/10" status
check "vnet status says why bad-app is unreachable" outputs '^unreachable: app bad-app of cluster bad\.test .*zone co\.uk was refused' status
check "the refused range is not routed" bash -c "! ip netns exec $NS_USER ip route show table all | grep -q '^${BAD_RANGE} '"
check "the refused zone is not captured: only-upstream.test is forwarded" outputs '^192\.0\.2\.50 ' in_user getent ahostsv4 only-upstream.test
check "vnet status says why plain (of the refused range) has no address" outputs '^unreachable: app plain of cluster bad\.test .*range 100\.100\.0\.0/16 was refused' status
check "plain.proxy.bad.test is VNet's name (NOERROR)" outputs 'status: NOERROR' in_user dig @100.64.0.2 plain.proxy.bad.test
check "plain.proxy.bad.test has no address" outputs 'ANSWER: 0,' in_user dig @100.64.0.2 plain.proxy.bad.test
check "vnet status --format json lists the refusals" outputs '"kind": ?"range"' status --format json
check "vnet diag says why a name of a refused zone does not work" fails 'zone co\.uk of cluster bad\.test at proxy\.bad\.test:3084 was refused' in_user "$VNET" diag bad-app.co.uk --state-dir "$WORK/state"
# With claims refused, vnet diag fails (it lists them), whatever the name.
diag() { in_user "$VNET" diag "$@" --state-dir "$WORK/state" || true; }
check "vnet diag lists the refused range" outputs '^FAIL refused range of bad\.test' diag
check "vnet diag: a default address works end to end" outputs 'ok +TCP to web\.proxy\.vnet\.test:8080 +connected through VNet' diag web.proxy.vnet.test --port 8080
check "the rest keeps working: tcp-app.company.test" outputs '^hello from tcp-app$' fetch tcp-app.company.test 8080
check "the rest keeps working: web.proxy.twin.test" outputs '^hello from twin$' fetch web.proxy.twin.test 8093

log "a range over a local network of this machine (read from its routes) is refused"
# A second network on the user namespace's veth: a connected route only
# there. The bad cluster moves its range onto it while VNet runs.
in_user ip addr add 10.99.0.2/24 dev "$VETH_U"
vnet_config_yaml 10.99.0.0/16 co.uk company.test >"$WORK/bad-config-2.yaml"
ctl_in bad.test create -f "$WORK/bad-config-2.yaml" >/dev/null
local_refused() { status | grep -q '^refused: range 10\.99\.0\.0/16 of cluster bad\.test .*covers 10\.99\.0\.0/24'; }
wait_for "the range over the local network refused" local_refused
check "vnet status: the range covers a local network" local_refused
check "the range over the local network is not routed to VNet" bash -c "! ip netns exec $NS_USER ip route show table all | grep -q '^10\.99\.0\.0/16'"
check "the rest keeps working after the change" outputs '^hello from twin$' fetch web.proxy.twin.test 8093

log "an app name that is not a DNS label and has no public_addr"
app_yaml my_app "$APP_PORT" >"$WORK/my_app.yaml"
if out=$(ctl create "$WORK/my_app.yaml" 2>&1); then
	# The cluster took it: the laptop says why it has no name.
	wait_for "my_app in vnet status" bash -c "ip netns exec $NS_USER $VNET status --state-dir $WORK/state | grep -q my_app"
	check "vnet status says my_app is no DNS label" outputs 'unreachable: app my_app .*not a DNS label' status
	check "vnet apps says my_app needs a public_addr" outputs 'my_app +- +no: .*not a DNS label.*public_addr' in_user "$VNET" apps
	check "vnet diag says my_app has no name" outputs '^FAIL app my_app of vnet\.test .*not a DNS label' diag
else
	check "the cluster refuses my_app with one line" outputs 'DNS label' echo "$out"
fi

summary "e2e-names"
