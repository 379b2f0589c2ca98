#!/usr/bin/env bash
# End-to-end tests of who may claim which app (issue 9), with real agents
# ('vnet agent start') and `vnet up`: two agents with one app name and other
# labels (the second is refused, the first keeps working by name); an agent
# claiming a cluster app's public_addr (refused); a join token limited to app
# names and labels; `vnet ctl agents rm` cutting an agent's app; and the
# creation rules of `vnet ctl create`. Needs root. Prints "N passed, N
# failed" and exits non-zero on any failure.
source "$(dirname "$0")/lib/world.sh"
source "$(dirname "$0")/lib/checks.sh"

world_up

log "admin: zone company.test; alice (role dev) logs in; vnet up"
vnet_config_yaml company.test >"$WORK/vnet-config.yaml"
ctl create "$WORK/vnet-config.yaml" >/dev/null
token=$(ctl users add alice --roles=dev | signup_token)
check "login" in_user "$VNET" login --proxy="$PROXY" --user=alice --token="$token" --no-password --ca-pin="$CA_PIN"
vnet_up

log "admin: creation rules of 'vnet ctl create'"
app_yaml() { # NAME PORT [PUBLIC_ADDR]
	printf 'kind: app\nversion: v1\nmetadata:\n  name: %s\nspec:\n  uri: tcp://127.0.0.1:%s\n' "$1" "$2"
	[ -n "${3:-}" ] && printf '  public_addr: %s\n' "$3"
	return 0
}
app_yaml my_app 8080 >"$WORK/my_app.yaml"
expect_fail "a name that is not a DNS label, without public_addr, is refused with one line" \
	'^ERROR: app "my_app": metadata\.name "my_app" is not a DNS label \(.*\): set spec\.public_addr or rename the app$' ctl create "$WORK/my_app.yaml"
app_yaml copy 8080 TCP-App.company.test. >"$WORK/copy.yaml"
expect_fail "another app's public_addr (other case, trailing dot) is refused, naming the holder" \
	'^ERROR: app "copy": spec\.public_addr "tcp-app\.company\.test" is already the address of app "tcp-app"$' ctl create "$WORK/copy.yaml"
check "nothing was stored" bash -c "! ip netns exec $NS_CLUSTER $VNET ctl get apps --format text | grep -qE '^(copy|my_app) '"
check "tcp-app still works by name" outputs '^hello from tcp-app$' in_user curl -sf --max-time 10 http://tcp-app.company.test:8080/

log "agents: two agents with one app name and other labels"
web_app one 8101 "hello from agent one"
web_app two 8102 "hello from agent two"
web_app three 8103 "hello from agent three"
new_token() { ctl tokens add --type=app --ttl=1h "$@" | awk '/join_token:/ {print $2}'; }
# agent_yaml NAME TOKEN then lines "name port public_addr env" on stdin.
agent_yaml() {
	{
		printf 'version: v1\nproxy_addr: %s\njoin_token: %s\nca_pin: %s\ndata_dir: %s\napp_service:\n  enabled: true\n  apps:\n' \
			"$PROXY" "$2" "$CA_PIN" "$WORK/agent-$1"
		while read -r name port addr env; do
			printf '    - name: %s\n      uri: tcp://127.0.0.1:%s\n      labels: {env: %s}\n' "$name" "$port" "$env"
			[ "$addr" != - ] && printf '      public_addr: %s\n' "$addr"
		done
	} >"$WORK/agent-$1.yaml"
}
start_agent() { # NAME
	bg "agent-$1" "$NS_CLUSTER" "$VNET" agent start --config "$WORK/agent-$1.yaml"
	eval "AGENT_PID_$1=\$BG_PID"
}
agent_id() { ctl agents ls | awk -v app="$1" '$0 ~ app {print $1; exit}'; }
fetch() { in_user curl -sf --max-time 10 "http://$1/"; }

agent_yaml a "$(new_token)" <<<"db 8101 db.company.test dev"
start_agent a
wait_for "db by name (agent a)" fetch db.company.test:8101
ID_A=$(agent_id db)
agent_yaml b "$(new_token)" <<<"db 8102 db.company.test prod"
start_agent b
wait_for "agent b's refusal in its log" grep -q 'app refused by the cluster' "$WORK/agent-b.log"
check "agent b logs one line naming the agent that serves db" \
	outputs "app refused by the cluster.*app .\"db.\" is already served by agent $ID_A with another uri, public_addr, tcp_ports or labels" cat "$WORK/agent-b.log"
check "'ctl get apps' shows the refused claim" outputs "^agent [0-9a-f]+: app \"db\" is already served by agent $ID_A" ctl get apps --format text
check "'ctl get apps' keeps db as agent a registered it" outputs '^db +db\.company\.test +tcp://127\.0\.0\.1:8101 +env=dev' ctl get apps --format text
sleep 11 # two heartbeats (5 s) repeat the refused claim
ok=yes
for _ in $(seq 10); do [ "$(fetch db.company.test:8101)" = "hello from agent one" ] || ok=no; done
check "db keeps reaching agent a's app by name (10 of 10)" test "$ok" = yes
refusals() { ctl audit --app db --format json | grep -c '"app.claim.refused"' || true; }
check "the refusal is audited once, not at every heartbeat" outputs '^1$' refusals

log "agents: an agent claiming a cluster app's public_addr"
agent_yaml c "$(new_token)" <<-EOF
	evil 8103 tcp-app.company.test dev
	own 8103 own.company.test dev
EOF
start_agent c
wait_for "agent c's other app by name" fetch own.company.test:8103
check "agent c serves its own app" outputs '^hello from agent three$' fetch own.company.test:8103
check "agent c logs the refusal naming the cluster app" \
	outputs 'app refused by the cluster.*app .\"evil.\": spec.public_addr .\"tcp-app.company.test.\" is already the address of app .\"tcp-app.\"' cat "$WORK/agent-c.log"
check "'ctl get apps' shows it" outputs 'app "evil": spec\.public_addr "tcp-app\.company\.test" is already the address of app "tcp-app"' ctl get apps --format text
check "vnet apps does not list evil" bash -c "! ip netns exec $NS_USER env VNET_HOME=$WORK/home $VNET apps | grep -q '^evil '"
check "tcp-app.company.test still reaches the cluster's app" outputs '^hello from tcp-app$' fetch tcp-app.company.test:8080

log "agents: a join token limited to app names and labels"
limited=$(new_token --apps='db-*' --labels env=dev)
check "tokens ls shows the token's limits" outputs 'named db-\* and labelled env=dev' ctl tokens ls
agent_yaml d "$limited" <<-EOF
	db-extra 8102 db-extra.company.test dev
	web-d 8102 web-d.company.test dev
	db-prod 8102 db-prod.company.test prod
EOF
start_agent d
wait_for "db-extra by name (agent d)" fetch db-extra.company.test:8102
check "an allowed app is served" outputs '^hello from agent two$' fetch db-extra.company.test:8102
wait_for "agent d's two refusals" bash -c "[ \$(grep -c 'app refused by the cluster' $WORK/agent-d.log) -ge 2 ]"
check "a name outside --apps is refused" outputs "app .\"web-d.\": the agent's join token allows only apps named db-\*" cat "$WORK/agent-d.log"
check "labels outside --labels are refused" outputs "app .\"db-prod.\": the agent's join token allows only apps labelled env=dev" cat "$WORK/agent-d.log"
check "vnet apps lists neither" bash -c "! ip netns exec $NS_USER env VNET_HOME=$WORK/home $VNET apps | grep -qE '^(web-d|db-prod) '"
expect_fail "curl web-d.company.test fails" '' fetch web-d.company.test:8102

log "agents: ls and rm"
ID_D=$(agent_id db-extra)
check "agents ls shows agent d: connected, its app, its limits" \
	outputs "^$ID_D +[^ ]+ +[0-9-]+ [0-9:]+ +yes +db-extra +named db-\* and labelled env=dev" ctl agents ls
check "agents rm removes it and says which apps went" outputs "^agent $ID_D has been removed; its apps are gone: db-extra$" ctl agents rm "$ID_D"
check "db-extra is gone from the cluster at once" bash -c "! ip netns exec $NS_CLUSTER $VNET ctl get apps --format text | grep -q '^db-extra '"
gone() { ! fetch db-extra.company.test:8102; }
wait_for "db-extra to stop answering" gone
check "curl db-extra.company.test fails after agents rm" gone
wait_for "agent d to hear it was removed" grep -q 'has been removed from the cluster' "$WORK/agent-d.log"
check "agent d cannot come back with its certificate" outputs 'has been removed from the cluster' cat "$WORK/agent-d.log"
check "agents ls no longer lists it" bash -c "! ip netns exec $NS_CLUSTER $VNET ctl agents ls | grep -q '^$ID_D '"
check "the other agents' apps still work" outputs '^hello from agent one$' fetch db.company.test:8101

log "agents: once agent a has gone, agent b's claim of db is accepted"
kill -TERM "$AGENT_PID_a"
wait_for "db to reach agent b" bash -c "[ \"\$(ip netns exec $NS_USER curl -sf --max-time 5 http://db.company.test:8102/)\" = 'hello from agent two' ]"
check "db now reaches agent b's app" outputs '^hello from agent two$' fetch db.company.test:8102
check "'ctl get apps' shows db with agent b's labels" outputs '^db +db\.company\.test +tcp://127\.0\.0\.1:8102 +env=prod' ctl get apps --format text

summary e2e-agents
