#!/usr/bin/env bash
# End-to-end tests of leaf clusters and several root clusters at once: the
# world's cluster (vnet.test) is the root; a leaf (leaf.test) joins it with a
# trusted_cluster and a join token; a second, independent root (root2.test)
# has its own login. One `vnet up` reaches an app in each by name with curl,
# each address inside its own cluster's range; killing the leaf makes only
# its app fail, and it comes back with the leaf. The leaf claims only what
# the root granted it (its zone and range, through the join token; one more
# zone later through the remote_cluster): its claims on the root's zone
# company.test, on a zone never granted and on a root app's address are
# refused, shown in `vnet ctl get remote_clusters` and audited, while the
# legitimate names keep working. Needs root. Prints "N passed, N failed" and
# exits non-zero on any failure.
source "$(dirname "$0")/lib/world.sh"
source "$(dirname "$0")/lib/checks.sh"

ROOT_RANGE=100.64.0.0/16
LEAF_RANGE=100.70.0.0/16
# Another profile's range may not overlap the root's or the leaf's (the
# laptop refuses it): the second root takes private space.
ROOT2_RANGE=10.80.0.0/16

world_up

log "root (vnet.test): custom zone company.test, range $ROOT_RANGE"
vnet_config_yaml "$ROOT_RANGE" company.test >"$WORK/root-config.yaml"
ctl create "$WORK/root-config.yaml" >/dev/null

log "leaf (leaf.test): its own app, range $LEAF_RANGE and zone leafcorp.test; it also claims"
log "  the root's zone company.test, outside.test (not granted yet) and the root app's address"
web_app leaf 8091 "hello from leaf-app"
extra_cluster leaf.test proxy.leaf.test 3081 leaf-app 8091 leaf-app.leafcorp.test
LEAF_PID=$CLUSTER_PID
vnet_config_yaml "$LEAF_RANGE" leafcorp.test company.test outside.test >"$WORK/leaf-config.yaml"
ctl_in leaf.test create "$WORK/leaf-config.yaml" >/dev/null
leaf_app_yaml() { # NAME PUBLIC_ADDR
	printf 'kind: app\nversion: v1\nmetadata:\n  name: %s\nspec:\n  uri: tcp://127.0.0.1:8091\n  public_addr: %s\n' "$1" "$2"
}
leaf_app_yaml fake tcp-app.company.test >"$WORK/leaf-fake.yaml"
ctl_in leaf.test create "$WORK/leaf-fake.yaml" >/dev/null
leaf_app_yaml stray stray.outside.test >"$WORK/leaf-stray.yaml"
ctl_in leaf.test create "$WORK/leaf-stray.yaml" >/dev/null

log "second root (root2.test): its own app, range $ROOT2_RANGE and zone corp2.test"
web_app root2 8092 "hello from root2-app"
extra_cluster root2.test proxy.root2.test 3082 root2-app 8092 root2-app.corp2.test
vnet_config_yaml "$ROOT2_RANGE" corp2.test >"$WORK/root2-config.yaml"
ctl_in root2.test create "$WORK/root2-config.yaml" >/dev/null

log "the leaf joins the root: a trusted_cluster with a join token and the root's CA pin"
# The token grants the leaf its zone and its range.
new_token() { ctl tokens add --type=trusted_cluster --zones=leafcorp.test --range="$LEAF_RANGE" | awk 'NR==3 {print $1}'; }
trusted_cluster() { # TOKEN [PIN]
	cat <<-EOF
		kind: trusted_cluster
		version: v1
		metadata:
		  name: vnet.test
		spec:
		  enabled: true
		  token: $1
		  web_proxy_addr: $PROXY
		  ca_pin: ${2:-$CA_PIN}
		  role_map:
		    - remote: dev
		      local: [access]
	EOF
}
token=$(new_token)
[ -n "$token" ] || die "no trusted_cluster token"
check "tokens add prints a trusted_cluster to create" outputs 'kind: trusted_cluster' ctl tokens add --type=trusted_cluster
expect_fail "a granted range overlapping the root's is refused with one line" "100\.64\.0\.0/10 overlaps this cluster's range $ROOT_RANGE" ctl tokens add --type=trusted_cluster --range=100.64.0.0/10
trusted_cluster "$token" sha256:0000 >"$WORK/trusted-bad.yaml"
expect_fail "a malformed ca_pin is refused with one line" 'spec\.ca_pin' ctl_in leaf.test create "$WORK/trusted-bad.yaml"
trusted_cluster "$token" >"$WORK/trusted.yaml"
check "vnet ctl create trusted_cluster on the leaf" outputs 'trusted_cluster "vnet.test" has been created|created' ctl_in leaf.test create "$WORK/trusted.yaml"
leaf_online() { ctl get remote_clusters --format text | grep -qE '^leaf\.test +online'; }
wait_for "the leaf connected to the root" leaf_online
check "the root lists the leaf as an online remote_cluster" outputs '^leaf\.test +online +proxy\.leaf\.test:3081' ctl get remote_clusters --format text
check "the remote_cluster shows the token's grants" outputs "leafcorp\.test,$LEAF_RANGE" ctl get remote_clusters --format text
refused() { ctl get remote_clusters | grep -E -- "$1"; }
wait_for "the leaf's refused claims" refused 'zone company\.test'
check "refused: the leaf claiming the root's zone" refused "zone company\.test: is company\.test, a domain of the root cluster vnet\.test"
check "refused: the leaf claiming a zone never granted" refused "zone outside\.test: not granted by vnet\.test"
check "nothing granted is refused" fails '' refused "zone leafcorp|range "
check "the refusals are audited" outputs 'leaf\.claim\.refused +leaf:leaf\.test .*zone company\.test' ctl audit --since 1h --user leaf:leaf.test

log "user: alice logs in to the root and to the second root (two profiles)"
login_root() { in_user "$VNET" login --proxy="$PROXY" --user=alice --token="$(ctl users add alice --roles=dev | signup_token)" --no-password --ca-pin="$CA_PIN"; }
ROOT2_PIN=$(ctl_in root2.test status | awk '/CA pin/ {print $3}')
login_root2() { in_user "$VNET" login --proxy=proxy.root2.test:3082 --user=alice --token="$(ctl_in root2.test users add alice --roles=dev | signup_token)" --no-password --ca-pin="$ROOT2_PIN"; }
check "login to the root" login_root
check "login to the second root" login_root2
vnet_up

log "three apps, three clusters, one VNet"
fetch() { in_user curl -sf --max-time 10 "http://$1:$2/"; }
wait_for "leaf-app by name" fetch leaf-app.leafcorp.test 8091
wait_for "root2-app by name" fetch root2-app.corp2.test 8092
check "curl reaches the root's app (the leaf claims its name too)" outputs '^hello from tcp-app$' fetch tcp-app.company.test 8080
check "curl reaches the leaf's app through the root" outputs '^hello from leaf-app$' fetch leaf-app.leafcorp.test 8091
check "curl reaches the second root's app" outputs '^hello from root2-app$' fetch root2-app.corp2.test 8092
ip_of() { in_user getent ahostsv4 "$1" | awk 'NR==1 {print $1}'; }
check "the root's app is in $ROOT_RANGE ($(ip_of tcp-app.company.test))" outputs '^100\.64\.' ip_of tcp-app.company.test
check "the leaf's app is in $LEAF_RANGE ($(ip_of leaf-app.leafcorp.test))" outputs '^100\.70\.' ip_of leaf-app.leafcorp.test
check "the second root's app is in $ROOT2_RANGE ($(ip_of root2-app.corp2.test))" outputs '^10\.80\.' ip_of root2-app.corp2.test
# The first profile (by first login: the root) gives the device its
# address; never the leaf.
check "the TUN's address is network+1 of the first login's range, not the leaf's" outputs ' 100\.64\.0\.1/32 ' in_user ip -o addr show dev vnet0
check "every range is routed to the TUN" outputs "$LEAF_RANGE dev vnet0" in_user ip route show table all
check "vnet apps lists the leaf's app" outputs 'leaf-app +leaf-app\.leafcorp\.test' in_user "$VNET" apps
check "vnet status shows the leaf cluster" outputs 'leaf\.test' in_user "$VNET" status --state-dir "$WORK/state"
check "the leaf's audit names the root user" outputs 'alice@vnet\.test' ctl_in leaf.test audit --since 1h
# App refusals depend on what a user's roles reach at the leaf: they show
# while a user (alice, through vnet up) watches.
wait_for "the leaf's refused apps" refused 'app fake'
check "refused: the leaf claiming a root app's address" refused "app fake: address tcp-app\.company\.test is the address of an app of the root cluster vnet\.test"
check "refused: an app outside the leaf's domains" refused "app stray: address stray\.outside\.test lies outside"
check "the leaf's app in a zone not granted does not resolve" fails '' in_user getent ahostsv4 stray.outside.test
audited_once() {
	local events
	events=$(ctl audit --since 1h --user leaf:leaf.test)
	[ "$(grep -c 'zone company\.test: is' <<<"$events")" -eq 1 ] && [ "$(grep -c 'app fake: address' <<<"$events")" -eq 1 ]
}
check "each refusal is audited once, not at every catalog poll" audited_once

log "the root's admin grants outside.test on the remote_cluster"
cat >"$WORK/remote.yaml" <<-EOF
	kind: remote_cluster
	version: v1
	metadata:
	  name: leaf.test
	spec:
	  grants:
	    zones: [leafcorp.test, outside.test]
	    ipv4_cidr_range: $LEAF_RANGE
EOF
check "vnet ctl create -f remote_cluster grants more" outputs 'remote_cluster "leaf\.test" has been updated' ctl create -f "$WORK/remote.yaml"
wait_for "the newly granted app" fetch stray.outside.test 8091
check "curl reaches the leaf's app in the newly granted zone" outputs '^hello from leaf-app$' fetch stray.outside.test 8091
check "the root's zone is still refused" refused "zone company\.test: is company\.test"
check "the root's app still answers at its name" outputs '^hello from tcp-app$' fetch tcp-app.company.test 8080

log "the leaf goes away (kill -9) and comes back"
kill -KILL "$LEAF_PID"
leaf_app_gone() { ! fetch leaf-app.leafcorp.test 8091; }
wait_for "the leaf's app to fail" leaf_app_gone
check "with the leaf gone its app fails" leaf_app_gone
check "the root's app still works" outputs '^hello from tcp-app$' fetch tcp-app.company.test 8080
check "the second root's app still works" outputs '^hello from root2-app$' fetch root2-app.corp2.test 8092
check "the root shows the leaf offline" outputs '^leaf\.test +offline' ctl get remote_clusters --format text
start_cluster leaf.test
wait_for "the leaf's app back" fetch leaf-app.leafcorp.test 8091
check "the leaf's app is back when the leaf reconnects" outputs '^hello from leaf-app$' fetch leaf-app.leafcorp.test 8091

log "the trust ends on either side"
check "vnet ctl rm remote_cluster/leaf.test on the root" outputs 'has been removed' ctl rm remote_cluster/leaf.test
wait_for "the leaf's app to fail" leaf_app_gone
check "after rm remote_cluster the leaf's app fails" leaf_app_gone
trusted_cluster "$(new_token)" >"$WORK/trusted.yaml"
check "a new token on the leaf joins again" ctl_in leaf.test create -f "$WORK/trusted.yaml"
wait_for "the leaf's app back" fetch leaf-app.leafcorp.test 8091
check "the leaf's app is back with the new token" outputs '^hello from leaf-app$' fetch leaf-app.leafcorp.test 8091
check "vnet ctl rm trusted_cluster/vnet.test on the leaf" outputs 'has been removed' ctl_in leaf.test rm trusted_cluster/vnet.test
wait_for "the leaf's app to fail" leaf_app_gone
check "after rm trusted_cluster the leaf's app fails" leaf_app_gone
check "the root's app still works at the end" outputs '^hello from tcp-app$' fetch tcp-app.company.test 8080

summary "e2e-leaf"
