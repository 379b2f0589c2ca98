#!/usr/bin/env bash
# End-to-end tests: a real cluster, a real app (nginx), a test upstream DNS
# server (dnsmasq), and `vnet up` on a real TUN in a network namespace,
# exercised with real clients (curl, dig, getent through glibc's resolver).
# Needs root. Prints "N passed, N failed" and exits non-zero on any failure.
source "$(dirname "$0")/lib/world.sh"
source "$(dirname "$0")/lib/checks.sh"

world_up

log "admin: bad vnet_config resources are refused with one line, nothing stored"
bad() {
	printf 'kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n%s\n' "$1" >"$WORK/bad.yaml"
	ctl create "$WORK/bad.yaml"
}
expect_fail "range /33 refused" 'ipv4_cidr_range' bad '  ipv4_cidr_range: "10.0.0.0/33"'
expect_fail "IPv6 range refused" 'ipv4_cidr_range.*IPv4' bad '  ipv4_cidr_range: "fd00::/64"'
expect_fail "empty suffix refused" 'custom_dns_zones' bad '  custom_dns_zones: [{suffix: ""}]'
check "nothing stored after bad input (the default)" outputs '^ +ipv4_cidr_range: 100\.64\.0\.0/10$' ctl get vnet_config

log "admin: create the vnet_config with the custom DNS zone"
vnet_config_yaml company.test >"$WORK/vnet-config.yaml"
check "vnet ctl create prints the guide's line" outputs '^vnet_config has been created$' ctl create "$WORK/vnet-config.yaml"
check "vnet ctl get vnet_config shows the zone" outputs 'suffix: company.test' ctl get vnet_config

log "user: sign up and log in"
out=$(ctl users add alice --roles=dev)
token=$(signup_token <<<"$out")
[ -n "$token" ] || die "no token in: $out"
expect_fail "login with a wrong CA pin is refused" 'CA pin' in_user "$VNET" login --proxy="$PROXY" --user=alice --token="$token" --no-password --ca-pin=sha256:0000
expect_fail "first login without a pin and no terminal asks for --ca-pin" 'ca-pin' in_user "$VNET" login --proxy="$PROXY" --user=alice --token="$token" --no-password </dev/null
check "login with the token and the CA pin" in_user "$VNET" login --proxy="$PROXY" --user=alice --token="$token" --no-password --ca-pin="$CA_PIN"
expect_fail "the token works only once" 'invalid' in_user env VNET_HOME="$WORK/other-home" "$VNET" login --proxy="$PROXY" --user=alice --token="$token" --no-password --ca-pin="$CA_PIN"
check "key file is private (0600)" outputs '^600$' stat -c %a "$WORK/home/profiles/proxy.vnet.test/key.pem"
check "vnet apps lists tcp-app" outputs 'tcp-app +tcp-app.company.test +yes' in_user "$VNET" apps

log "user: vnet up"
vnet_up
# in_order FILE PATTERN...: FILE has a line matching each PATTERN (grep
# -E), in this order.
in_order() {
	local file=$1 from=0 n
	shift
	for p in "$@"; do
		n=$(tail -n +$((from + 1)) "$file" | grep -nE -m1 -- "$p" | cut -d: -f1)
		[ -n "$n" ] || { echo "no line /$p/ after line $from of $file:"; head -n 30 "$file"; return 1; }
		from=$((from + n))
	done
}
check "vnet up prints each step for people, in order" in_order "$WORK/vnet-up.log" \
	'^TUN device vnet0 created \(MTU [0-9]+\)\.$' \
	'^catalog loaded: [0-9]+ apps \(cluster vnet\.test, proxy proxy\.vnet\.test' \
	'^TUN device vnet0: addresses 100\.64\.0\.1' \
	'^DNS configured in /etc/resolv\.conf: every name goes to VNet.s DNS at 100\.64\.0\.2.*company\.test' \
	'^VNet is up: '
check "vnet up's text log holds no info events without --debug (they are for machines)" bash -c "! grep -q 'level=INFO' '$WORK/vnet-up.log'"
check "resolv.conf points at VNet" in_user grep -q '^nameserver 100.64.0.2' /etc/resolv.conf
check "vnet status lists the app with its address" outputs 'tcp-app +tcp-app\.company\.test +100\.' in_user "$VNET" status --state-dir "$WORK/state"
check "vnet status shows the cluster connected" outputs 'vnet\.test +connected' in_user "$VNET" status --state-dir "$WORK/state"
check "the TUN has network+1" outputs ' 100\.64\.0\.1/32 ' in_user ip -o addr show dev vnet0
check "the address secret is private (0600)" outputs '^600$' stat -c %a "$WORK/state/address-secret"

log "names: through the real glibc resolver"
app_ip=$(in_user getent ahostsv4 tcp-app.company.test | awk 'NR==1 {print $1}')
check "tcp-app.company.test resolves into 100.64.0.0/10 ($app_ip)" outputs '^100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.[0-9]+\.[0-9]+$' echo "$app_ip"
check "upper case and trailing dot resolve the same" outputs "^$app_ip\$" in_user dig +short @100.64.0.2 TCP-APP.Company.TEST.
check "a forwarded name only the upstream knows" outputs '^192\.0\.2\.50 ' in_user getent ahostsv4 only-upstream.test
check "the proxy's own name is forwarded (login keeps working)" outputs "^$CLUSTER_IP " in_user getent ahostsv4 proxy.vnet.test
check "a longer label is not in the zone (forwarded)" outputs '^192\.0\.2\.51 ' in_user getent ahostsv4 tcp-app.evilcompany.test
check "unknown app in the zone is forwarded: NXDOMAIN upstream" outputs 'status: NXDOMAIN' in_user dig @100.64.0.2 nope.company.test
check "dig over TCP answers the app" outputs "^$app_ip\$" in_user dig +tcp +short @100.64.0.2 tcp-app.company.test
check "MX for the app's name is NOERROR, not NXDOMAIN" outputs 'status: NOERROR' in_user dig @100.64.0.2 tcp-app.company.test MX
check "MX for the app's name has no answer" outputs 'ANSWER: 0,' in_user dig @100.64.0.2 tcp-app.company.test MX

log "TCP: real clients to the app by name"
check "curl http://tcp-app.company.test:8080/" outputs '^hello from tcp-app$' in_user curl -sf --max-time 10 http://tcp-app.company.test:8080/
check "curl -4 http://tcp-app.company.test:8080/" outputs '^hello from tcp-app$' in_user curl -4 -sf --max-time 10 http://tcp-app.company.test:8080/
check "any port of the name reaches the app's port (curl :80)" outputs '^hello from tcp-app$' in_user curl -sf --max-time 10 http://tcp-app.company.test/
check "4 MiB download is intact" same_sha in_user curl -sf --max-time 30 http://tcp-app.company.test:8080/big.bin "$WORK/www/big.bin"
half_close_get() { printf 'GET / HTTP/1.0\r\n\r\n' | in_user timeout 10 nc -N tcp-app.company.test 8080; }
check "half-close: nc sends, shuts down its side, still reads the reply" outputs 'hello from tcp-app' half_close_get
# The app closes first (HTTP/1.0), so VNet's netstack is the active closer
# and nc, closing second, keeps no TIME_WAIT: the kernel may give the same
# source port to the next connection at once, which must not wait out a
# TIME_WAIT in VNet (gVisor drops such a SYN for 60 s; pgbench -C stalled).
same_port_get() { printf 'GET / HTTP/1.0\r\n\r\n' | in_user timeout 10 nc -p 40999 tcp-app.company.test 8080; }
check "a connection from source port 40999" outputs 'hello from tcp-app' same_port_get
check "the same source port again at once, after the app closed first" outputs 'hello from tcp-app' same_port_get
expect_fail "app that is down: connection refused" 'refused|Failed to connect' in_user curl -sS --max-time 10 http://down-app.company.test:8080/
parallel_downloads() {
	local pids=() rc=0
	for _ in $(seq 8); do
		in_user curl -sf --max-time 30 -o /dev/null http://tcp-app.company.test:8080/big.bin &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	return $rc
}
check "8 downloads at once all succeed" parallel_downloads

log "real clients: psql to PostgreSQL and redis-cli to Redis, by name through VNet"
# Both servers listen on 127.0.0.1 inside the cluster namespace only; the
# apps are created while VNet runs.
start_postgres "$NS_CLUSTER" "$WORK/pg" 127.0.0.1
start_redis "$NS_CLUSTER" 127.0.0.1
for app in "pg 5432" "redis 6379"; do
	set -- $app
	printf 'kind: app\nversion: v1\nmetadata:\n  name: %s\nspec:\n  uri: tcp://127.0.0.1:%s\n  public_addr: %s.company.test\n' "$1" "$2" "$1" >"$WORK/$1-app.yaml"
	ctl create "$WORK/$1-app.yaml" >/dev/null
done
wait_for "pg.company.test" in_user getent ahostsv4 pg.company.test
wait_for "redis.company.test" in_user getent ahostsv4 redis.company.test
pg_ip=$(in_user dig +short @100.64.0.2 pg.company.test)
check "psql -h pg.company.test runs a query" outputs '^vnet-ok$' in_user psql -h pg.company.test -U postgres -At -c "select 'vnet-ok'"
check "psql writes and reads a table" outputs '^3$' in_user psql -h pg.company.test -U postgres -At -c "create table t(x int); insert into t values (1),(2),(3); select count(*) from t"
check "redis-cli SET through VNet" outputs '^OK$' in_user redis-cli -h redis.company.test -p 6379 set vnet-key hello
check "redis-cli GET through VNet" outputs '^hello$' in_user redis-cli -h redis.company.test -p 6379 get vnet-key
check "redis-cli on another port of the name still reaches Redis" outputs '^PONG$' in_user redis-cli -h redis.company.test -p 7000 ping

log "diagnostics: vnet diag follows a name as a client would"
check "vnet diag: a working app passes every check" outputs 'ok +TCP to tcp-app\.company\.test:8080 +connected through VNet' in_user "$VNET" diag tcp-app.company.test --port 8080 --state-dir "$WORK/state"
expect_fail "vnet diag: a down app shows what the cluster said" 'TCP to down-app.company.test:8080 .*the cluster said: .*refused' in_user "$VNET" diag down-app.company.test --port 8080 --state-dir "$WORK/state"
expect_fail "vnet diag: a name that is no app says where to look" 'no app you may reach' in_user "$VNET" diag nope.company.test --state-dir "$WORK/state"
expect_fail "vnet diag: a name outside the zones says to add a zone" 'custom_dns_zones' in_user "$VNET" diag db.elsewhere.test --state-dir "$WORK/state"

log "IPv6: AAAA from the machine's ULA prefix, reached with curl -6"
app_ip6=$(in_user dig +short @100.64.0.2 tcp-app.company.test AAAA)
check "AAAA is in fd00::/8 ($app_ip6)" outputs '^fd[0-9a-f]{2}:' echo "$app_ip6"
check "curl -6 http://tcp-app.company.test:8080/" outputs '^hello from tcp-app$' in_user curl -6 -sf --max-time 10 http://tcp-app.company.test:8080/
dns6=$(sed -n 's/^nameserver \(fd.*\)/\1/p' "/etc/netns/$NS_USER/resolv.conf" | head -n1)
check "DNS answers over IPv6 too ($dns6)" outputs "^$app_ip\$" in_user dig +short "@$dns6" tcp-app.company.test

log "DNS rebinding: upstream answers into VNet's range or ULA prefix never reach a client"
add_host fine.evil.test 192.0.2.60
add_host rebind.evil.test 100.64.1.1
ula_prefix=$(cat "$WORK/state/ula-prefix")
rebind6=${ula_prefix%/64}99
# add_host asks for A; this name has only an AAAA.
echo "$rebind6 rebind6.evil.test" >>"$WORK/hosts"
kill -HUP "$DNSMASQ_PID"
aaaa_known() { [ "$(in_cluster dig +short +time=1 +tries=1 @"$CLUSTER_IP" rebind6.evil.test AAAA)" = "$rebind6" ]; }
wait_for "dnsmasq to answer rebind6.evil.test AAAA" aaaa_known
check "the upstream itself answers rebind.evil.test with 100.64.1.1" outputs '^100\.64\.1\.1$' in_cluster dig +short @"$CLUSTER_IP" rebind.evil.test
check "dig through VNet: rebind.evil.test is NOERROR" outputs 'status: NOERROR' in_user dig @100.64.0.2 rebind.evil.test
check "dig through VNet: rebind.evil.test has no answer" outputs 'ANSWER: 0,' in_user dig @100.64.0.2 rebind.evil.test
check "dig +tcp through VNet: rebind.evil.test has no answer" outputs 'ANSWER: 0,' in_user dig +tcp @100.64.0.2 rebind.evil.test
expect_fail "getent: rebind.evil.test gets no address" '' in_user getent ahosts rebind.evil.test
check "dig AAAA through VNet: rebind6.evil.test ($rebind6, in the ULA) has no answer" outputs 'ANSWER: 0,' in_user dig @100.64.0.2 rebind6.evil.test AAAA
expect_fail "getent: rebind6.evil.test gets no address" '' in_user getent ahosts rebind6.evil.test
check "getent: fine.evil.test from the same upstream works" outputs '^192\.0\.2\.60 ' in_user getent ahostsv4 fine.evil.test
check "VNet's own name keeps its address" outputs "^$app_ip\$" in_user dig +short @100.64.0.2 tcp-app.company.test
check "vnet up logged the removal with the name" outputs 'records removed.*name=rebind\.evil\.test' cat "$WORK/vnet-up.log"

log "live changes: a new app reaches the running VNet without a restart"
printf 'kind: app\nversion: v1\nmetadata:\n  name: live-app\nspec:\n  uri: tcp://127.0.0.1:%s\n  public_addr: live-app.company.test\n' "$APP_PORT" >"$WORK/live-app.yaml"
check "vnet ctl create app" outputs 'has been created' ctl create "$WORK/live-app.yaml"
check "the new app resolves while VNet runs" wait_for "live-app.company.test" in_user getent ahostsv4 live-app.company.test
check "curl reaches the new app" outputs '^hello from tcp-app$' in_user curl -sf --max-time 10 http://live-app.company.test:8080/
check "vnet up logged the new app" outputs 'live-app.company.test' cat "$WORK/vnet-up.log"

log "a zone that covers the proxy's own address: login keeps working"
vnet_config_yaml company.test vnet.test >"$WORK/vnet-config-2.yaml"
check "vnet ctl create -f with a zone over the proxy" outputs 'vnet_config has been updated' ctl create -f "$WORK/vnet-config-2.yaml"
check "the new zone reaches the running VNet" wait_for "vnet.test in vnet status" bash -c "ip netns exec $NS_USER $VNET status --state-dir $WORK/state | grep -q 'Domains:.*vnet\.test'"
check "the proxy's name still resolves through the old resolver" outputs "^$CLUSTER_IP " in_user getent ahostsv4 proxy.vnet.test
check "vnet apps still reaches the proxy by name" outputs 'tcp-app +tcp-app.company.test' in_user "$VNET" apps

log "agents: a second app behind 'vnet agent start' (reverse tunnel, join token, SIGHUP, heartbeat timeout)"
AGENT_APP_PORT=8081
mkdir -p "$WORK/www-agent"
echo "hello from agent-app" >"$WORK/www-agent/index.html"
cat >"$WORK/nginx-agent.conf" <<EOF
daemon off;
pid $WORK/nginx-agent.pid;
error_log $WORK/nginx-agent-error.log;
events {}
http {
  access_log off;
  server {
    listen 127.0.0.1:$AGENT_APP_PORT;
    root $WORK/www-agent;
  }
}
EOF
bg nginx-agent "$NS_CLUSTER" nginx -c "$WORK/nginx-agent.conf" -p "$WORK"
wait_for "the agent's nginx" in_cluster curl -sf "http://127.0.0.1:$AGENT_APP_PORT/"
expect_fail "a join token of an unknown type is refused" 'token type' ctl tokens add --type=node
join_token=$(ctl tokens add --type=app --ttl=1h | awk '/join_token:/ {print $2}')
check "vnet ctl tokens add prints an app join token" outputs '^[0-9a-f]{32}$' echo "$join_token"
check "vnet ctl tokens ls shows it" outputs '^[0-9a-f]{8} +app ' ctl tokens ls
write_agent_yaml() {
	cat >"$WORK/agent.yaml" <<EOF
version: v1
proxy_addr: $PROXY
join_token: $join_token
ca_pin: $CA_PIN
data_dir: $WORK/agent-data
app_service:
  enabled: true
  apps:
    - name: agent-app
      uri: tcp://127.0.0.1:$AGENT_APP_PORT
      public_addr: $1
EOF
}
write_agent_yaml agent-app.company.test
bg agent "$NS_CLUSTER" "$VNET" agent start --config "$WORK/agent.yaml"
AGENT_PID=$BG_PID
agent_listed() { in_user "$VNET" apps | grep -q agent-app; }
wait_for "agent-app in vnet apps" agent_listed
check "vnet apps lists the agent's app" outputs 'agent-app +agent-app\.company\.test' in_user "$VNET" apps
check "the agent's identity is private (0600)" outputs '^600$' stat -c %a "$WORK/agent-data/identity/key.pem"
agent_curl() { in_user curl -sf --max-time 10 "http://$1:$AGENT_APP_PORT/"; }
wait_for "agent-app by name through VNet" agent_curl agent-app.company.test
check "curl reaches the agent's app by name" outputs '^hello from agent-app$' agent_curl agent-app.company.test
check "the daemon's own app still works beside it" outputs '^hello from tcp-app$' in_user curl -sf --max-time 10 http://tcp-app.company.test:8080/

write_agent_yaml agent-app2.company.test
kill -HUP "$AGENT_PID"
wait_for "the new public_addr after SIGHUP" agent_curl agent-app2.company.test
check "after SIGHUP the new public_addr reaches the app" outputs '^hello from agent-app$' agent_curl agent-app2.company.test

kill -KILL "$AGENT_PID"
gone=no
for _ in $(seq 120); do
	# Only a listing that worked counts: a failed 'vnet apps' lists nothing.
	if apps_out=$(in_user "$VNET" apps 2>&1) && ! grep -q agent-app <<<"$apps_out"; then gone=yes; break; fi
	sleep 0.5
done
check "a killed agent's app leaves the catalog after the heartbeat timeout" test "$gone" = yes
bg agent-again "$NS_CLUSTER" "$VNET" agent start --config "$WORK/agent.yaml"
wait_for "agent-app back after the agent restarts" agent_curl agent-app2.company.test
check "the restarted agent reuses its identity (one agent joined)" outputs '^1$' grep -c 'agent joined' "$WORK/cluster.log"

log "RBAC and audit: roles decide what a user sees and reaches; the audit log keeps sessions"
cat >"$WORK/role-prod.yaml" <<EOF
kind: role
version: v1
metadata:
  name: prod-only
spec:
  allow:
    app_labels:
      env: prod
EOF
check "vnet ctl create a role" outputs '^role "prod-only" has been created$' ctl create "$WORK/role-prod.yaml"
check "vnet ctl get roles --format text" outputs '^prod-only +env=prod +-$' ctl get roles --format text
expect_fail "a role with a partial wildcard is refused, naming the field" 'spec.allow.app_labels\["env"\]' ctl create - <<<'{kind: role, version: v1, metadata: {name: bad}, spec: {allow: {app_labels: {env: "dev-*"}}}}'
expect_fail "users add with an unknown role is refused" 'role "prod-onyl" does not exist' ctl users add carol --roles=prod-onyl
out=$(ctl users add bob --roles=prod-only)
bob_token=$(signup_token <<<"$out")
[ -n "$bob_token" ] || die "no token in: $out"
bob() { in_user env VNET_HOME="$WORK/bob-home" "$VNET" "$@"; }
printf 'bob-password-1\n' >"$WORK/bob-pw"
printf 'not-his-password\n' >"$WORK/bad-pw"
printf '%s\n' "$bob_token" >"$WORK/bob-token"
check "bob signs up with the token from a file and sets a password" bob login --proxy="$PROXY" --user=bob --token-file="$WORK/bob-token" --ca-pin="$CA_PIN" --new-password-file="$WORK/bob-pw"
check "bob logs in again with the password alone" outputs 'Logged in to vnet.test as bob' bob login --proxy="$PROXY" --user=bob --password-file="$WORK/bob-pw"
bob login --proxy="$PROXY" --user=bob --password-file="$WORK/bob-pw" >"$WORK/login-steps.log" 2>&1 || true
check "vnet login prints its steps" in_order "$WORK/login-steps.log" \
	'^Contacting the proxy at proxy\.vnet\.test' '^CA pinned: sha256:[0-9a-f]+ \(the CA of your last login\)' \
	'^Signed in as bob .* with your password\.$' '^Certificate valid until [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}, saved in ' '^Logged in to vnet\.test as bob\.$'
bob_lacks_tcp_app() { ! bob apps | grep -q tcp-app; }
check "vnet apps does not list tcp-app (env: dev) for bob" bob_lacks_tcp_app
check "alice still sees tcp-app" outputs 'tcp-app +tcp-app\.company\.test' in_user "$VNET" apps
check "vnet ctl users ls shows bob's role and password" outputs '^bob +prod-only +set ' ctl users ls
widen() { EDITOR="sed -i s/env:\ prod/env:\ [dev,\ prod]/" ctl edit role/prod-only; }
check "vnet ctl edit widens the role to env: dev" outputs 'role "prod-only" has been updated' widen
check "bob sees tcp-app at once, without logging in again" outputs 'tcp-app +tcp-app\.company\.test' bob apps
unchanged_edit() { EDITOR=true ctl edit role/prod-only; }
check "an edit that changes nothing saves nothing" outputs '^no changes$' unchanged_edit
for i in 1 2 3 4 5; do
	expect_fail "wrong password $i is refused" 'invalid user name, token or password' bob login --proxy="$PROXY" --user=bob --password-file="$WORK/bad-pw"
done
expect_fail "after 5 failures even the right password waits" 'too many failed logins, try again in [0-9]+ s' bob login --proxy="$PROXY" --user=bob --password-file="$WORK/bob-pw"
check "vnet ctl users rm bob" outputs 'user "bob" has been removed' ctl users rm bob
expect_fail "bob's certificate no longer works: vnet apps fails, the reason on its own line" '^cluster vnet\.test .*could not be asked: .*no longer exists' bob apps
alice_session_bytes() {
	# No grep -q in a pipe: under pipefail its early exit fails the writer.
	ctl audit --user alice --app tcp-app --format json | grep '"event":"app.session.end"' | grep -E '"bytes_out":[1-9][0-9]*' >/dev/null
}
check "vnet ctl audit shows alice's sessions to tcp-app with bytes" alice_session_bytes
check "vnet ctl audit as a table" outputs 'app\.session\.end +alice +tcp-app ' ctl audit --user alice
expect_fail "vnet ctl audit refuses a bad --since" 'since' ctl audit --since yesterday

log "a restart keeps every address: they come from the machine's secret in the state dir"
vnet_down
# vnet_up waits for "VNet is up" in this log: the first run's must go.
mv "$WORK/vnet-up.log" "$WORK/vnet-up-first.log"
# This run logs JSON for machines, on stderr apart from the steps.
bg vnet-up "$NS_USER" bash -c 'exec "$@" 2>"$0"' "$WORK/vnet-up-json.log" \
	"$VNET" up --state-dir "$WORK/state" --metrics-addr 127.0.0.1:9464 --log-format json
VNET_UP_PID=$BG_PID
wait_for "vnet up" grep -q "VNet is up" "$WORK/vnet-up.log"
# json_log FILE: every line of FILE is one JSON object with time, level
# and msg, and one says the catalog loaded.
json_log() {
	python3 -c 'import json, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]
assert objs and all({"time", "level", "msg"} <= o.keys() for o in objs), "time, level, msg missing"
assert any(o["msg"].startswith("catalog loaded") for o in objs), "no catalog loaded event"
print(len(objs), "JSON lines")' "$1"
}
check "vnet up --log-format json: every log line parses as JSON" json_log "$WORK/vnet-up-json.log"
check "vnet up --log-format json keeps the steps on stdout" outputs '^catalog loaded: ' cat "$WORK/vnet-up.log"
check "tcp-app.company.test has the same address after a restart" outputs "^$app_ip\$" in_user dig +short @100.64.0.2 tcp-app.company.test
check "pg.company.test too" outputs "^$pg_ip\$" in_user dig +short @100.64.0.2 pg.company.test

log "metrics: both endpoints, scraped inside their namespaces, move with a curl through VNet"
CLUSTER_METRICS=http://127.0.0.1:9090/metrics
VNET_METRICS=http://127.0.0.1:9464/metrics
# metric NS URL PREFIX [TEXT]: the sum of the series starting with PREFIX
# (and holding TEXT) in URL's scrape from namespace NS; 0 if it cannot be
# scraped (the checks then fail, the script goes on).
metric() {
	{ ip netns exec "$1" curl -sf --max-time 5 "$2" || true; } | awk -v p="$3" -v t="${4:-}" \
		'index($0, p) == 1 && index($0, t) {s += $NF} END {printf "%.0f\n", s}'
}
# grew NS URL BEFORE PREFIX [TEXT]: the metric rises above BEFORE within 5 s
# (a session's bytes are counted when it ends, just after the client's).
grew() {
	local ns=$1 url=$2 before=$3 now
	shift 3
	for _ in $(seq 50); do
		now=$(metric "$ns" "$url" "$@")
		[ "$now" -gt "$before" ] && return 0
		sleep 0.1
	done
	echo "$* stayed at $now (before: $before)"
	return 1
}
check "the cluster serves /metrics (metrics_addr)" outputs '^vnet_proxy_dials_total\{outcome="established"\} ' ip netns exec "$NS_CLUSTER" curl -sf --max-time 5 "$CLUSTER_METRICS"
check "vnet up serves /metrics (--metrics-addr)" outputs '^vnet_dns_queries_total\{outcome="answered"\} ' ip netns exec "$NS_USER" curl -sf --max-time 5 "$VNET_METRICS"
expect_fail "vnet up refuses a non-loopback --metrics-addr" 'not a loopback address' in_user "$VNET" up --state-dir "$WORK/state-metrics" --metrics-addr 0.0.0.0:9465
dials=$(metric "$NS_CLUSTER" "$CLUSTER_METRICS" 'vnet_proxy_dials_total{outcome="established"}')
from_app=$(metric "$NS_CLUSTER" "$CLUSTER_METRICS" 'vnet_proxy_session_bytes_total{direction="from_app"}')
answered=$(metric "$NS_USER" "$VNET_METRICS" 'vnet_dns_queries_total{outcome="answered"}')
connected=$(metric "$NS_USER" "$VNET_METRICS" 'vnet_dial_duration_seconds_count{' 'outcome="connected"')
received=$(metric "$NS_USER" "$VNET_METRICS" 'vnet_connection_bytes_total{direction="received"}')
check "curl through VNet for the metrics" outputs '^hello from tcp-app$' in_user curl -sf --max-time 10 http://tcp-app.company.test:8080/
check "cluster: established dials rose" grew "$NS_CLUSTER" "$CLUSTER_METRICS" "$dials" 'vnet_proxy_dials_total{outcome="established"}'
check "cluster: bytes from the app rose" grew "$NS_CLUSTER" "$CLUSTER_METRICS" "$from_app" 'vnet_proxy_session_bytes_total{direction="from_app"}'
check "cluster: bob's wrong passwords are counted" grew "$NS_CLUSTER" "$CLUSTER_METRICS" 4 'vnet_proxy_login_failures_total{method="password",reason="rejected"}'
check "cluster: vnet up's catalog watch is counted" grew "$NS_CLUSTER" "$CLUSTER_METRICS" 0 'vnet_proxy_catalog_watchers'
check "vnet: the name's query was answered by VNet" grew "$NS_USER" "$VNET_METRICS" "$answered" 'vnet_dns_queries_total{outcome="answered"}'
check "vnet: a dial connected" grew "$NS_USER" "$VNET_METRICS" "$connected" 'vnet_dial_duration_seconds_count{' 'outcome="connected"'
check "vnet: bytes received rose" grew "$NS_USER" "$VNET_METRICS" "$received" 'vnet_connection_bytes_total{direction="received"}'
check "vnet: the login's catalog is connected" grew "$NS_USER" "$VNET_METRICS" 0 'vnet_catalog_connected{'
check "vnet: the login's catalog has a revision above 0" grew "$NS_USER" "$VNET_METRICS" 0 'vnet_catalog_revision{'

log "a dead upstream: SERVFAIL in bounded time, VNet's own names still answer"
kill -TERM "$DNSMASQ_PID"
wait_for "dnsmasq to exit" bash -c "! kill -0 $DNSMASQ_PID"
check "forwarded name: SERVFAIL, not a hang" outputs 'status: SERVFAIL' in_user dig +tries=1 +time=15 @100.64.0.2 only-upstream.test
check "an app name still resolves" outputs "^$app_ip\$" in_user dig +short +tries=1 +time=5 @100.64.0.2 tcp-app.company.test

log "vnet up stops and restores everything"
vnet_down
expect_fail "vnet status says VNet is not running" 'not running' in_user "$VNET" status --state-dir "$WORK/state"
check "resolv.conf restored byte for byte" outputs "^nameserver $CLUSTER_IP\$" cat "/etc/netns/$NS_USER/resolv.conf"
expect_fail "the TUN device is gone" 'not exist' in_user ip link show vnet0
expect_fail "the app name no longer resolves" '' in_user dig +short +tries=1 +time=2 @100.64.0.2 tcp-app.company.test

summary e2e
