#!/usr/bin/env bash
# The catalog at scale (issue 13), in network namespaces: a cluster on
# bbolt with SCALE_APPS apps (default 100,000) in its cluster.yaml, one
# `vnet up`, and next to it the e2e world's small cluster as the baseline:
#   cluster start        `vnet cluster start` until `vnet ctl status` answers
#   catalog loaded       `vnet up` started until it logs "catalog loaded: N apps"
#   one app added,       `vnet ctl create`, `create -f` (a new public_addr) and `rm` started
#   changed, removed     until VNet's answer for the name changes (SCALE_CHANGES, default 20,
#                        each: median and max), next to the median run time of `vnet ctl` itself
#   DNS                  dnsperf over random app names vs the small catalog's one name; p99 one at a time
#   memory and CPU       `vnet up` RSS (now, peak, peak at once); the proxy's RSS, and its CPU idle with VNet watching
# Figures only: nothing here passes or fails on speed. Needs root.
# BENCH_SECONDS (default 5) sets the length of each dnsperf run; SCALE_APPS
# and SCALE_CHANGES make a shorter run while developing. SCALE_ROWS (a
# comma-separated subset of restart,changes,dns,mem; default all) runs only
# those rows: cluster start and the catalog after `vnet up` always run.
# SCALE_PPROF=DIR keeps `vnet up`'s engine heap profiles there (after the
# catalog loaded, and at the end), and the logs of `vnet up` and the cluster.
source "$(dirname "$0")/lib/world.sh"

secs=${BENCH_SECONDS:-5}
apps=${SCALE_APPS:-100000}
changes=${SCALE_CHANGES:-20}
rows=${SCALE_ROWS:-restart,changes,dns,mem}
row() { [[ ",$rows," == *",$1,"* ]]; }
pprof_dir=${SCALE_PPROF:-}
probe="python3 $REPO/scripts/lib/dnsprobe.py"
command -v dnsperf >/dev/null || {
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends dnsperf >/dev/null
}
now() { date +%s.%N; }
secs_since() { python3 -c "print('%.2f' % ($(now) - $1))"; }
qps() { grep 'Queries per second' | awk '{print $4}'; }
ratio() { python3 -c "print('%.2f' % (float('$1')/float('$2')))"; }
# until_ok SECONDS CMD...: poll CMD every 50 ms for at most SECONDS.
until_ok() {
	local limit=$1
	shift
	local end=$(($(date +%s) + limit))
	while [ "$(date +%s)" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	die "timed out after ${limit}s: $*"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }
hwm_mib() { awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }
# up_mib FIELD: FIELD (VmRSS, VmHWM) of `vnet up` in MiB: the root helper
# and the engine it started as the user (its child), summed, as bench.sh.
up_mib() { echo $(($(up_kib "$1") / 1024)); }
up_kib() {
	local pid sum=0 kib
	for pid in "$VNET_UP_PID" $(pgrep -P "$VNET_UP_PID"); do
		kib=$(awk '/^'"$1"':/ {print $2}' "/proc/$pid/status" 2>/dev/null)
		sum=$((sum + ${kib:-0}))
	done
	echo "$sum"
}
# sample_up_peak: until `vnet up` ends, the most its two processes held
# at once (VmRSS summed every 0.1 s) into $WORK/up-peak, in MiB. Their
# peaks (VmHWM) summed add each one's own, reached at different moments:
# the root helper's at its start, the engine's during the first load.
sample_up_peak() {
	local peak=0 now
	while kill -0 "$VNET_UP_PID" 2>/dev/null; do
		now=$(up_kib VmRSS)
		[ "$now" -le "$peak" ] || { peak=$now; echo $((peak / 1024)) >"$WORK/up-peak"; }
		sleep 0.1
	done
}

world_up
# Two profiles' ranges may not overlap: the small cluster keeps a /16,
# the big one gets a /12 (a million addresses).
vnet_config_yaml 100.64.0.0/16 company.test >"$WORK/vc.yaml"
ctl create "$WORK/vc.yaml" >/dev/null
token=$(ctl users add bench --roles=access | signup_token)
in_user "$VNET" login --proxy="$PROXY" --user=bench --token="$token" --no-password --ca-pin="$CA_PIN" >/dev/null

base_qps=- base_p50=- base_p99=-
if row dns; then
	log "baseline: DNS of the e2e world's small catalog (tcp-app and down-app)"
	vnet_up
	for i in $(seq 200); do echo "tcp-app.company.test A"; done >"$WORK/q-small.txt"
	base_qps=$(in_user dnsperf -s 100.64.0.2 -d "$WORK/q-small.txt" -l "$secs" -q 64 -c 4 | qps)
	read -r base_p50 base_p99 < <(in_user $probe latency 100.64.0.2 "$WORK/q-small.txt" 5000)
	vnet_down
fi

log "a cluster with $apps apps in its cluster.yaml (bbolt)"
host=scale.vnet.test
mkdir -p "$WORK/scale"
python3 - "$WORK/scale" "$apps" "$CLUSTER_IP" "$host" "$APP_PORT" <<-'EOF'
	import sys
	d, n, ip, host, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
	with open(d + "/cluster.yaml", "w") as f:
	    f.write("version: v1\ncluster_name: scale\ndata_dir: %s/data\n" % d)
	    f.write("proxy_service:\n  listen_addr: %s:3081\n  public_addr: %s:3081\n" % (ip, host))
	    f.write("app_service:\n  enabled: true\n  apps:\n")
	    for i in range(n):
	        f.write("    - {name: app%06d, uri: 'tcp://127.0.0.1:%s', labels: {env: dev}}\n" % (i, port))
	with open(d + "/names.txt", "w") as f:
	    for i in range(0, n, max(1, n // 20000)):
	        f.write("app%06d.%s A\n" % (i, host))
EOF
add_host "$host" "$CLUSTER_IP"
t0=$(now)
bg cluster-scale "$NS_CLUSTER" "$VNET" cluster start --config "$WORK/scale/cluster.yaml"
SCALE_PID=$BG_PID
until_ok 300 ctl_in scale status
start_secs=$(secs_since "$t0")
restart_secs=-
if row restart; then
	kill -TERM "$SCALE_PID"
	for _ in $(seq 100); do kill -0 "$SCALE_PID" 2>/dev/null || break; sleep 0.1; done
	bg cluster-scale "$NS_CLUSTER" "$VNET" cluster start --config "$WORK/scale/cluster.yaml"
	SCALE_PID=$BG_PID
	t0=$(now)
	until_ok 300 ctl_in scale status
	restart_secs=$(secs_since "$t0")
fi
scale_pin=$(ctl_in scale status | awk '/CA pin/ {print $3}')
vnet_config_yaml 100.96.0.0/12 >"$WORK/scale/vc.yaml"
ctl_in scale create "$WORK/scale/vc.yaml" >/dev/null
token=$(ctl_in scale users add bench --roles=access | signup_token)
in_user "$VNET" login --proxy="$host:3081" --user=bench --token="$token" --no-password --ca-pin="$scale_pin" >/dev/null

log "vnet up with both clusters"
: >"$WORK/vnet-up.log"
t0=$(now)
pprof_env=()
[ -z "$pprof_dir" ] || pprof_env=(env VNET_PPROF_ADDR=127.0.0.1:6060)
bg vnet-up "$NS_USER" "${pprof_env[@]}" "$VNET" up --state-dir "$WORK/state"
VNET_UP_PID=$BG_PID
sample_up_peak &
PIDS+=($!)
until_ok 120 grep -q "catalog loaded: $apps apps" "$WORK/vnet-up.log"
loaded_secs=$(secs_since "$t0")
until_ok 120 grep -q "VNet is up" "$WORK/vnet-up.log"
until_ok 60 in_user $probe wait 100.64.0.2 "app000000.$host" "$WORK/first"
# heap_profile NAME: the engine's heap profile (VNET_PPROF_ADDR's next port)
# into SCALE_PPROF/NAME.pb.gz, with the RSS of both processes at that moment.
heap_profile() {
	[ -n "$pprof_dir" ] || return 0
	mkdir -p "$pprof_dir"
	in_user curl -sf -o "$pprof_dir/$1.pb.gz" "http://127.0.0.1:6061/debug/pprof/heap"
	echo "$1: vnet up RSS $(up_mib VmRSS) MiB, peak $(up_mib VmHWM) MiB" >>"$pprof_dir/rss.txt"
}
heap_profile loaded

add_ms=(-)
chg_ms=(-)
rm_ms=(-)
ctl_ms=(-)
row changes && {
	add_ms=()
	chg_ms=()
	rm_ms=()
	ctl_ms=()
}
ms_since() { python3 -c "print('%.0f' % (($1 - $2) * 1000))"; }
# timed ARRAY PROBE NAME CTL-ARGS...: start PROBE (wait or gone) on NAME,
# run `vnet ctl CTL-ARGS` on the scale cluster, and append to ARRAY the
# milliseconds from ctl's start until VNet's answer changed.
timed() {
	local -n out=$1
	local mode=$2 name=$3
	shift 3
	rm -f "$WORK/answered"
	ip netns exec "$NS_USER" $probe "$mode" 100.64.0.2 "$name.$host" "$WORK/answered" &
	local prober=$!
	sleep 0.2 # the prober is asking before the change
	local started
	started=$(now)
	ctl_in scale "$@" >/dev/null
	ctl_ms+=("$(ms_since "$(now)" "$started")")
	wait "$prober" || die "$name: VNet's answer never changed ($mode)"
	out+=("$(ms_since "$(cat "$WORK/answered")" "$started")")
}
app_yaml() { # NAME [PUBLIC_ADDR]
	printf 'kind: app\nversion: v1\nmetadata:\n  name: %s\n  labels: {env: dev}\nspec:\n  uri: tcp://127.0.0.1:%s\n' "$1" "$APP_PORT"
	[ -z "${2:-}" ] || printf '  public_addr: %s\n' "$2"
}
row changes && log "one app added, changed and removed, $changes times each"
for i in $(seq -w "$changes"); do
	row changes || break
	app_yaml "added$i" >"$WORK/added.yaml"
	timed add_ms wait "added$i" create "$WORK/added.yaml"
	app_yaml "added$i" "changed$i.$host" >"$WORK/changed.yaml"
	timed chg_ms wait "changed$i" create -f "$WORK/changed.yaml"
	timed rm_ms gone "changed$i" rm "app/added$i"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
maximum() { printf '%s\n' "$@" | sort -n | tail -1; }
ctl_run_ms=$(median "${ctl_ms[@]}")

scale_qps=- scale_p50=- scale_p99=- dns_ratio=-
if row dns; then
	log "DNS over random app names"
	scale_qps=$(in_user dnsperf -s 100.64.0.2 -d "$WORK/scale/names.txt" -l "$secs" -q 64 -c 4 | qps)
	read -r scale_p50 scale_p99 < <(in_user $probe latency 100.64.0.2 "$WORK/scale/names.txt" 5000)
	dns_ratio=$(ratio "$scale_qps" "$base_qps")
fi

proxy_cpu=-
if row mem; then
	log "memory and CPU"
	t1=$(cpu_ticks "$SCALE_PID")
	sleep 10
	t2=$(cpu_ticks "$SCALE_PID")
	hz=$(getconf CLK_TCK)
	proxy_cpu=$(python3 -c "print('%.1f' % (100.0 * ($t2 - $t1) / $hz / 10))")
fi
heap_profile end
[ -z "$pprof_dir" ] || cp "$WORK/vnet-up.log" "$WORK/cluster-scale.log" "$pprof_dir/"

echo
echo "Scale: $apps apps on bbolt, one vnet up (times in seconds unless stated)"
printf '  %-52s %s\n' \
	"cluster start (empty data dir)" "$start_secs s" \
	"cluster restart (apps already stored)" "$restart_secs s" \
	"whole catalog in VNet after vnet up" "$loaded_secs s" \
	"one app added reaches VNet (of $changes: median, max)" "$(median "${add_ms[@]}") ms, $(maximum "${add_ms[@]}") ms" \
	"one app changed (public_addr) reaches VNet" "$(median "${chg_ms[@]}") ms, $(maximum "${chg_ms[@]}") ms" \
	"one app removed reaches VNet" "$(median "${rm_ms[@]}") ms, $(maximum "${rm_ms[@]}") ms" \
	"  (from vnet ctl's start; vnet ctl itself, median)" "$ctl_run_ms ms" \
	"DNS, random app names (dnsperf)" "$scale_qps q/s, p50 $scale_p50 ms, p99 $scale_p99 ms" \
	"DNS, small catalog's one name (dnsperf)" "$base_qps q/s, p50 $base_p50 ms, p99 $base_p99 ms" \
	"DNS ratio (random names / small catalog)" "$dns_ratio" \
	"vnet up RSS (helper + engine)" "$(up_mib VmRSS) MiB now, peak $(up_mib VmHWM) MiB (each one's summed), $(cat "$WORK/up-peak") MiB at once" \
	"proxy RSS" "$(rss_mib "$SCALE_PID") MiB now, peak $(hwm_mib "$SCALE_PID") MiB" \
	"proxy CPU, idle, one VNet watching (10 s)" "$proxy_cpu% of a core"
