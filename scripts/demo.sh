#!/usr/bin/env bash
# The demo: a cluster with one app, a user who logs in, `vnet up` on a real
# TUN, and plain clients reaching the app by name. Everything runs in two
# network namespaces that are removed at the end. Needs root.
source "$(dirname "$0")/lib/world.sh"

say() { printf '\n\033[36m$ %s\033[0m\n' "$*"; }

world_up

vnet_config_yaml company.test >"$WORK/vnet-config.yaml"
say "cat vnet-config.yaml"
cat "$WORK/vnet-config.yaml"
say "vnet ctl create vnet-config.yaml          # on the cluster host"
ctl create "$WORK/vnet-config.yaml"
say "vnet ctl status"
ctl status
say "vnet ctl users add alice --roles=dev"
out=$(ctl users add alice --roles=dev)
echo "$out"
signup_token <<<"$out" >"$WORK/alice-token"

say "vnet login --proxy=$PROXY --user=alice --token-file=alice-token --ca-pin=...   # on the laptop"
in_user "$VNET" login --proxy="$PROXY" --user=alice --token-file="$WORK/alice-token" --no-password --ca-pin="$CA_PIN"
say "vnet apps"
in_user "$VNET" apps
say "sudo vnet up &"
vnet_up
grep -v '^time=' "$WORK/vnet-up.log" || true

say "getent hosts tcp-app.company.test         # the system resolver asks VNet"
in_user getent hosts tcp-app.company.test
say "curl http://tcp-app.company.test:8080/    # nginx in the cluster namespace answers"
in_user curl -sS --max-time 10 http://tcp-app.company.test:8080/
say "getent hosts only-upstream.test           # not VNet's: forwarded to the old resolver"
in_user getent hosts only-upstream.test
say "curl http://down-app.company.test:8080/   # the app is down: refused at once"
in_user curl -sS --max-time 10 http://down-app.company.test:8080/ || true

say "vnet status                               # what VNet serves"
in_user "$VNET" status --state-dir "$WORK/state"
say "vnet diag down-app.company.test --port 8080   # why it was refused"
in_user "$VNET" diag down-app.company.test --port 8080 --state-dir "$WORK/state" || true

say "kill -TERM <vnet up>                       # everything VNet changed is undone"
vnet_down
tail -n 1 "$WORK/vnet-up.log"
say "cat /etc/resolv.conf"
in_user cat /etc/resolv.conf
echo
log "demo finished; removing the namespaces and processes"
