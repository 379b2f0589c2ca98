#!/usr/bin/env bash
# End-to-end tests of leaf clusters and several root clusters at once: the
# world's cluster (vnet.test) is the root; a leaf (leaf.test) joins it with a
# trusted_cluster and a join token; a second, independent root (root2.test)
# has its own login. One `vnet up` reaches an app in each by name with curl,
# each address inside its own cluster's range; killing the leaf makes only
# its app fail, and it comes back with the leaf. Needs root. Prints "N passed,
# N failed" and exits non-zero on any failure.
source "$(dirname "$0")/lib/world.sh"
source "$(dirname "$0")/lib/checks.sh"

LEAF_RANGE=100.70.0.0/16
# Another profile's range may not overlap the root's 100.64.0.0/10 (the
# laptop refuses it): the second root takes private space.
ROOT2_RANGE=10.80.0.0/16

world_up

log "root (vnet.test): custom zone company.test, the default range"
vnet_config_yaml 100.64.0.0/10 company.test >"$WORK/root-config.yaml"
ctl create "$WORK/root-config.yaml" >/dev/null

log "leaf (leaf.test): its own app, range $LEAF_RANGE and zone leafcorp.test"
web_app leaf 8091 "hello from leaf-app"
extra_cluster leaf.test proxy.leaf.test 3081 leaf-app 8091 leaf-app.leafcorp.test
LEAF_PID=$CLUSTER_PID
vnet_config_yaml "$LEAF_RANGE" leafcorp.test >"$WORK/leaf-config.yaml"
ctl_in leaf.test create "$WORK/leaf-config.yaml" >/dev/null

log "second root (root2.test): its own app, range $ROOT2_RANGE and zone corp2.test"
web_app root2 8092 "hello from root2-app"
extra_cluster root2.test proxy.root2.test 3082 root2-app 8092 root2-app.corp2.test
vnet_config_yaml "$ROOT2_RANGE" corp2.test >"$WORK/root2-config.yaml"
ctl_in root2.test create "$WORK/root2-config.yaml" >/dev/null

log "the leaf joins the root: a trusted_cluster with a join token and the root's CA pin"
new_token() { ctl tokens add --type=trusted_cluster | awk 'NR==3 {print $1}'; }
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
trusted_cluster "$token" sha256:0000 >"$WORK/trusted-bad.yaml"
expect_fail "a malformed ca_pin is refused with one line" 'spec\.ca_pin' ctl_in leaf.test create "$WORK/trusted-bad.yaml"
trusted_cluster "$token" >"$WORK/trusted.yaml"
check "vnet ctl create trusted_cluster on the leaf" outputs 'trusted_cluster "vnet.test" has been created|created' ctl_in leaf.test create "$WORK/trusted.yaml"
leaf_online() { ctl get remote_clusters --format text | grep -qE '^leaf\.test +online'; }
wait_for "the leaf connected to the root" leaf_online
check "the root lists the leaf as an online remote_cluster" outputs '^leaf\.test +online +proxy\.leaf\.test:3081' ctl get remote_clusters --format text

log "user: alice logs in to the root and to the second root (two profiles)"
signup_token() { grep -o -- '--token=[0-9a-f]*' | cut -d= -f2; }
login_root() { in_user "$VNET" login --proxy="$PROXY" --user=alice --token="$(ctl users add alice --roles=dev | signup_token)" --ca-pin="$CA_PIN"; }
ROOT2_PIN=$(ctl_in root2.test status | awk '/CA pin/ {print $3}')
login_root2() { in_user "$VNET" login --proxy=proxy.root2.test:3082 --user=alice --token="$(ctl_in root2.test users add alice --roles=dev | signup_token)" --ca-pin="$ROOT2_PIN"; }
check "login to the root" login_root
check "login to the second root" login_root2
vnet_up

log "three apps, three clusters, one VNet"
fetch() { in_user curl -sf --max-time 10 "http://$1:$2/"; }
wait_for "leaf-app by name" fetch leaf-app.leafcorp.test 8091
wait_for "root2-app by name" fetch root2-app.corp2.test 8092
check "curl reaches the root's app" outputs '^hello from tcp-app$' fetch tcp-app.company.test 8080
check "curl reaches the leaf's app through the root" outputs '^hello from leaf-app$' fetch leaf-app.leafcorp.test 8091
check "curl reaches the second root's app" outputs '^hello from root2-app$' fetch root2-app.corp2.test 8092
ip_of() { in_user getent ahostsv4 "$1" | awk 'NR==1 {print $1}'; }
check "the root's app is in 100.64.0.0/10 ($(ip_of tcp-app.company.test))" outputs '^100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.' ip_of tcp-app.company.test
check "the leaf's app is in $LEAF_RANGE ($(ip_of leaf-app.leafcorp.test))" outputs '^100\.70\.' ip_of leaf-app.leafcorp.test
check "the second root's app is in $ROOT2_RANGE ($(ip_of root2-app.corp2.test))" outputs '^10\.80\.' ip_of root2-app.corp2.test
# The first profile (by first login: the root) gives the device its
# address; never the leaf.
check "the TUN's address is network+1 of the first login's range, not the leaf's" outputs ' 100\.64\.0\.1/32 ' in_user ip -o addr show dev vnet0
check "every range is routed to the TUN" outputs "$LEAF_RANGE dev vnet0" in_user ip route
check "vnet apps lists the leaf's app" outputs 'leaf-app +leaf-app\.leafcorp\.test' in_user "$VNET" apps
check "vnet status shows the leaf cluster" outputs 'leaf\.test' in_user "$VNET" status --state-dir "$WORK/state"
check "the leaf's audit names the root user" outputs 'alice@vnet\.test' ctl_in leaf.test audit --since 1h

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
