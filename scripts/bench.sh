#!/usr/bin/env bash
# Benchmarks in network namespaces: every row measures the same client and
# server three ways, in the same run, on the same machine:
#   direct      client in the user namespace, server in the cluster
#               namespace, straight over the veth (kernel TCP both ends);
#   tailscaled  tailscaled's gVisor netstack on a TUN with offloads, looping
#               100.100.100.100:PORT to 127.0.0.1:PORT (lib/peer.sh): the
#               best Go netstack, engine only, no WireGuard;
#   VNet        the full path: TUN, VNet's netstack, the gRPC/TLS tunnel,
#               the proxy and the app service, to the address VNet gives
#               the server's name (pgbench -C also by the name).
# Each cell is the median of BENCH_REPS (3) runs and their min–max; the
# three columns take turns within a repetition so that the machine's noise
# hits them alike. Figures only: nothing passes or fails on speed.
#
# Needs root. BENCH_SECONDS (default 5) is the length of each run,
# BENCH_ROWS (e.g. "iperf,pgbench") picks rows (iperf iperf8 pgbench redis
# dns rss), BENCH_PEER=0 leaves tailscaled out, MTU sets vnet up's TUN MTU,
# BENCH_PPROF=DIR (with VNET_PPROF_ADDR=127.0.0.1:6060) profiles the engine
# and the proxy during each VNet run of the pgbench and redis rows. A full run also rewrites the
# generated table in docs/benchmarks.md (BENCH_DOC=0 to skip, =1 to force).
source "$(dirname "$0")/lib/world.sh"
source "$(dirname "$0")/lib/bench.sh"
source "$(dirname "$0")/lib/peer.sh"

secs=${BENCH_SECONDS:-5}
reps=${BENCH_REPS:-3}
for cmd in iperf3 dnsperf pgbench redis-benchmark; do
	command -v "$cmd" >/dev/null || {
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq && apt-get install -y -qq --no-install-recommends iperf3 dnsperf postgresql-client redis-tools >/dev/null
		break
	}
done

# bench_down: tailscaled, the world (which stops every server by PID, the
# peer's too), then the peer's namespace. world_down takes the exit status
# from $?, which it must still see.
bench_down() {
	local rc=$?
	set +e
	peer_stop
	return_with() { return "$1"; }
	return_with "$rc"
	world_down
	peer_down
	return "$rc"
}

# servers NS ADDR...: iperf3, PostgreSQL (with pgbench's tables) and Redis
# in namespace NS on ADDR...
servers() {
	local ns=$1 listen
	shift
	listen=$(
		IFS=,
		echo "$*"
	)
	bg "iperf3-$ns" "$ns" iperf3 --server --port 5201
	start_postgres "$ns" "$WORK/pg-$ns" "$listen"
	ip netns exec "$ns" pgbench -i -q -h "$1" -U postgres postgres >"$WORK/pgbench-init-$ns.log" 2>&1
	start_redis "$ns" "$@"
}

# app NAME PORT: a VNet app NAME.company.test for 127.0.0.1:PORT in the cluster.
app() {
	printf 'kind: app\nversion: v1\nmetadata:\n  name: %s\nspec:\n  uri: tcp://127.0.0.1:%s\n  public_addr: %s.company.test\n' "$1" "$2" "$1" >"$WORK/$1-app.yaml"
	ctl create "$WORK/$1-app.yaml" >/dev/null
}

# Where each column's client runs and what it connects to.
direct() { in_user "$@"; }
peer() { in_peer "$@"; }
vnet() { in_user "$@"; }

# vnet_ip NAME: the address VNet gives app NAME. The VNet column connects
# to it, as the other columns connect to an address: a name would add a
# DNS query through VNet to every connection pgbench -C opens (its own row
# measures that).
vnet_ip() { in_user getent ahostsv4 "$1.company.test" | awk 'NR == 1 {print $1}'; }

# each PORT FN VNET_HOST: for every repetition, FN COLUMN HOST for each column; the
# peer is (re)started for PORT first and left out when there is none.
each() {
	local port=$1 fn=$2 have_peer=1
	peer_start "$port" || have_peer=""
	for _ in $(seq "$reps"); do
		"$fn" direct "$CLUSTER_IP"
		[ -n "$have_peer" ] && "$fn" peer "$PEER_IP"
		"$fn" vnet "$3"
	done
	peer_stop
}

gbits() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'; }
iperf() { "$1" iperf3 -J -t "$secs" "${@:3}" -c "$2" | gbits; }

# iperfcpu ROW COLUMN HOST ARGS...: iperf3's Gbit/s, and the CPU of the
# path per Gbit moved into cell ROWcpu/COLUMN.
iperfcpu() {
	local f="$WORK/cpu-${1}cpu_$2"
	per_op "${1}cpu/$2" "$2" iperf "${@:2}"
	# per_op wrote µs per Gbit: in ms.
	[ -s "$f" ] && awk '{print (NR == n ? sprintf("%.1f", $1 / 1000) : $0)}' n="$(wc -l <"$f")" "$f" >"$f.ms" && mv "$f.ms" "$f"
	return 0
}

row_iperf() {
	log "iperf3, one stream, $secs s each, upload and download (-R)"
	one() {
		sample up/"$1" iperfcpu up "$1" "$2"
		sample down/"$1" iperfcpu down "$1" "$2" -R
	}
	each 5201 one "$(vnet_ip iperf)"
	row up "iperf3 upload, 1 stream, Gbit/s" 2
	row down "iperf3 download (\`-R\`), 1 stream, Gbit/s" 2
	cpu_cells upcpu/peer upcpu/vnet downcpu/peer downcpu/vnet
	row upcpu "iperf3 upload, 1 stream, CPU of the path per Gbit, ms (tailscaled; VNet: vnet up and the proxy)" 0
	row downcpu "iperf3 download, 1 stream, CPU of the path per Gbit, ms" 0
}

row_iperf8() {
	log "iperf3 -P 8, $secs s each, upload and download (-R)"
	one() {
		sample up8/"$1" iperfcpu up8 "$1" "$2" -P 8
		sample down8/"$1" iperfcpu down8 "$1" "$2" -P 8 -R
	}
	each 5201 one "$(vnet_ip iperf)"
	row up8 "iperf3 \`-P 8\` upload, Gbit/s" 2
	row down8 "iperf3 \`-P 8\` download, Gbit/s" 2
	cpu_cells up8cpu/peer up8cpu/vnet down8cpu/peer down8cpu/vnet
	row up8cpu "iperf3 \`-P 8\` upload, CPU of the path per Gbit, ms" 0
	row down8cpu "iperf3 \`-P 8\` download, CPU of the path per Gbit, ms" 0
}

# path_pids COLUMN: the processes that carry COLUMN's traffic besides the
# client, the server and the kernel: tailscaled for the peer; vnet up (the
# root helper and the engine) and the cluster (the proxy) for VNet; none
# for direct.
path_pids() {
	case $1 in
	peer) echo "$PEER_PID" ;;
	vnet) echo "$VNET_UP_PID $(pgrep -P "$VNET_UP_PID" | tr '\n' ' ') $(pgrep -f -- "$VNET cluster start --config $WORK/cluster.yaml" | tr '\n' ' ')" ;;
	esac
}

# per_op CELL COLUMN CMD...: run CMD, which prints a rate (operations per
# second), and print it; the CPU time per operation of COLUMN's path_pids
# (µs, the operations counted as the rate times CMD's wall time) goes to
# cell CELL through a file, as in qps. It is what a lever saves on a busy
# machine, where the rate swings with the other load.
per_op() {
	local cell=$1 col=$2 pids t0 t1 w0 w1 rate
	pids=$(path_pids "$2")
	shift 2
	[ -n "$pids" ] || { "$@"; return; }
	# shellcheck disable=SC2086 # pids is a list of PIDs
	t0=$(cpu_ticks $pids)
	w0=$(date +%s.%N)
	[ "$col" = vnet ] && profile "$cell"
	local k0 k1
	k0=$(tun_packets "$col")
	rate=$("$@")
	wait_profiles
	w1=$(date +%s.%N)
	# shellcheck disable=SC2086
	t1=$(cpu_ticks $pids)
	k1=$(tun_packets "$col")
	[ -n "$k0" ] && awk -v c="$cell" -v a="$k0" -v b="$k1" -v r="$rate" -v w="$w0" -v w1="$w1" \
		'BEGIN {split(a, x); split(b, y); n = r * (w1 - w); if (n > 0) printf("  %s: TUN packets per operation: %.2f to the engine, %.2f from it\n", c, (y[1] - x[1]) / n, (y[2] - x[2]) / n)}' >>"$WORK/tun.log"
	awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v r="$rate" -v w="$w0" -v w1="$w1" \
		'BEGIN {if (r > 0) printf("%.1f\n", t / hz * 1e6 / (r * (w1 - w)))}' >>"$WORK/cpu-${cell//\//_}"
	echo "$rate"
}

# tun_packets COLUMN: for VNet, the packets the kernel has sent into vnet up's
# TUN and those it has read from it ("TX RX" of the device), to log the
# packets each operation costs (pure ACKs included).
tun_packets() {
	[ "$1" = vnet ] || return 0
	in_user cat /sys/class/net/vnet0/statistics/tx_packets /sys/class/net/vnet0/statistics/rx_packets 2>/dev/null | tr '\n' ' '
}

# tun_log: the TUN's packets per operation that per_op logged, to the log.
tun_log() {
	cat "$WORK/tun.log" 2>/dev/null || true
	rm -f "$WORK/tun.log"
}

# profile CELL: with BENCH_PPROF=DIR (and VNET_PPROF_ADDR=127.0.0.1:6060 in
# the environment: the cluster serves at 6060 in its namespace, vnet up's
# engine at 6061 in the user's), CPU profiles of the engine and the proxy
# into DIR/CELL-{engine,proxy}.pb.gz, 2 s into the run and for up to 8 s.
profile() {
	[ -n "${BENCH_PPROF:-}" ] || return 0
	local name=${1//\//_} s=$((secs - 3))
	[ "$s" -gt 8 ] && s=8
	[ "$s" -ge 1 ] || return 0
	mkdir -p "$BENCH_PPROF"
	(sleep 2 && in_user curl -s -o "$BENCH_PPROF/$name-engine.pb.gz" "http://127.0.0.1:6061/debug/pprof/profile?seconds=$s") &
	PROFILE_PIDS=("$!")
	(sleep 2 && in_cluster curl -s -o "$BENCH_PPROF/$name-proxy.pb.gz" "http://127.0.0.1:6060/debug/pprof/profile?seconds=$s") &
	PROFILE_PIDS+=("$!")
}
wait_profiles() {
	local pid
	for pid in "${PROFILE_PIDS[@]}"; do wait "$pid"; done
	PROFILE_PIDS=()
}
PROFILE_PIDS=()

# cpu_cells CELL...: the CPU figures per_op wrote, into their cells.
cpu_cells() {
	local cell
	for cell in "$@"; do
		[ -s "$WORK/cpu-${cell//\//_}" ] && SAMPLES[$cell]=$(tr '\n' ' ' <"$WORK/cpu-${cell//\//_}")
	done
	return 0
}

# tps ROW COLUMN HOST ARGS...: pgbench's transactions/s, and the CPU per
# transaction into cell ROWcpu/COLUMN.
pgtps() { "$1" pgbench -n -S -T "$secs" -j 2 -h "$2" -U postgres "${@:3}" postgres | awk '/^tps/ {print $3; exit}'; }
tps() { per_op "${1}cpu/$2" "$2" pgtps "${@:2}"; }

row_pgbench() {
	log "pgbench -S (select only), $secs s each: -c 8, and -C -c 4 (a connection per transaction)"
	one() {
		sample pg/"$1" tps pg "$1" "$2" -c 8
		sample pgC/"$1" tps pgC "$1" "$2" -C -c 4
		# pgbench -C resolves its host for every connection: by name,
		# VNet's DNS answers each time (the other columns have no name).
		if [ "$1" = vnet ]; then sample pgCname/vnet tps pgCname "$1" pg.company.test -C -c 4; fi
	}
	each 5432 one "$(vnet_ip pg)"
	row pg "pgbench \`-S -c 8\`, tps" 0
	row pgC "pgbench \`-S -C -c 4\`, tps" 0
	SAMPLES[pgCname/direct]=${SAMPLES[pgC/direct]:-}
	SAMPLES[pgCname/peer]=${SAMPLES[pgC/peer]:-}
	row pgCname "pgbench \`-S -C -c 4\`, VNet by the app's name (resolved per connection), tps" 0
	cpu_cells pgcpu/peer pgcpu/vnet pgCcpu/peer pgCcpu/vnet
	tun_log
	row pgcpu "pgbench \`-S -c 8\`, CPU per transaction of the path, µs (tailscaled; VNet: vnet up and the proxy)" 1
	row pgCcpu "pgbench \`-S -C -c 4\`, CPU per transaction of the path, µs" 0
}

# rps ROW COLUMN HOST TEST: redis-benchmark's requests/s, and the CPU per
# request into cell ROWcpu/COLUMN.
redisrps() { "$1" redis-benchmark -h "$2" -p 6379 -c 20 -n "$((secs * 20000))" -t "$3" --csv | awk -F'"' 'NR > 1 {print $4; exit}'; }
rps() { per_op "${1}cpu/$2" "$2" redisrps "${@:2}"; }

row_redis() {
	log "redis-benchmark GET and SET, 20 clients, $((secs * 20000)) requests each"
	one() {
		sample get/"$1" rps get "$1" "$2" get
		sample set/"$1" rps set "$1" "$2" set
	}
	each 6379 one "$(vnet_ip redis)"
	row get "redis-benchmark GET, 20 clients, requests/s" 0
	row set "redis-benchmark SET, 20 clients, requests/s" 0
	cpu_cells getcpu/peer getcpu/vnet setcpu/peer setcpu/vnet
	tun_log
	row getcpu "redis-benchmark GET, CPU per request of the path, µs (tailscaled; VNet: vnet up and the proxy)" 1
	row setcpu "redis-benchmark SET, CPU per request of the path, µs" 1
}

# cpu_ticks PID...: the user and system CPU time the processes and their
# children have used so far, in clock ticks.
cpu_ticks() {
	local pid sum=0
	for pid in "$@"; do
		sum=$((sum + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	echo "$sum"
}

# qps SERVER QUERIES CELL PID...: dnsperf's queries/s against SERVER; the
# CPU time per completed query of the server's processes PID... (dnsmasq,
# or vnet up's helper and engine) goes to cell CELL, through a file since
# `sample` runs this in a subshell.
qps() {
	local out t0 t1
	t0=$(cpu_ticks "${@:4}")
	out=$(in_user dnsperf -s "$1" -d "$2" -l "$secs" -q 64 -c 4)
	t1=$(cpu_ticks "${@:4}")
	awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" '/Queries completed/ && $3 > 0 {printf("%.1f\n", t / hz * 1e6 / $3)}' <<<"$out" >>"$WORK/cpu-${3//\//_}"
	# Lost queries and latency to the log: a lost query holds one of the
	# 64 slots for dnsperf's 5 s timeout, which shows as low queries/s.
	awk -v s="$1" -v q="${2##*/}" '/Queries lost|Average Latency/ {$1=$1; printf("  %s %s: %s\n", s, q, $0)}' <<<"$out" >>"$WORK/dnsperf.log"
	awk '/Queries per second/ {print $4}' <<<"$out"
}

row_dns() {
	log "dnsperf -l $secs, 64 in flight: VNet's DNS for app names and forwarded names, vs dnsmasq answering directly"
	for _ in $(seq 200); do echo "tcp-app.company.test A"; done >"$WORK/q-app.txt"
	for _ in $(seq 200); do echo "only-upstream.test A"; done >"$WORK/q-fwd.txt"
	local vnet_pids cell
	vnet_pids="$VNET_UP_PID $(pgrep -P "$VNET_UP_PID" | tr '\n' ' ')"
	for _ in $(seq "$reps"); do
		# shellcheck disable=SC2086 # vnet_pids is a list of PIDs
		sample dns/direct qps "$CLUSTER_IP" "$WORK/q-fwd.txt" dnscpu/direct "$DNSMASQ_PID"
		# shellcheck disable=SC2086
		sample dns/vnet qps 100.64.0.2 "$WORK/q-app.txt" dnscpu/vnet $vnet_pids
		# shellcheck disable=SC2086
		sample dnsfwd/vnet qps 100.64.0.2 "$WORK/q-fwd.txt" dnsfwdcpu/vnet $vnet_pids
	done
	cat "$WORK/dnsperf.log" 2>/dev/null
	SAMPLES[dnsfwd/direct]=${SAMPLES[dns/direct]:-}
	for cell in dnscpu/direct dnscpu/vnet dnsfwdcpu/vnet; do
		[ -s "$WORK/cpu-${cell//\//_}" ] && SAMPLES[$cell]=$(tr '\n' ' ' <"$WORK/cpu-${cell//\//_}")
	done
	SAMPLES[dnsfwdcpu/direct]=${SAMPLES[dnscpu/direct]:-}
	row dns "dnsperf, app names, queries/s (last column: / dnsmasq)" 0 direct
	row dnsfwd "dnsperf, forwarded names, queries/s (last column: / dnsmasq)" 0 direct
	row dnscpu "DNS server CPU per app-name query, µs (dnsmasq; vnet up; last column: / dnsmasq)" 1 direct
	row dnsfwdcpu "DNS server CPU per forwarded query, µs (dnsmasq; vnet up, dnsmasq's share not included)" 1 direct
}

# kib FIELD: FIELD (VmRSS, VmHWM) of `vnet up` in KiB: the root helper
# ($VNET_UP_PID) and the engine it started as the user (its child), summed.
kib() {
	local pid sum=0
	for pid in "$VNET_UP_PID" $(pgrep -P "$VNET_UP_PID"); do
		sum=$((sum + $(awk '/^'"$1"':/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
	done
	echo "$sum"
}

# rss_split: each process's resident memory in MiB: its own (anonymous:
# heap, stacks) and the binary's pages it maps (file), and its peak since
# rss_reset, for the log (the first PID is the root helper, the second the
# engine).
rss_split() {
	local pid
	for pid in "$VNET_UP_PID" $(pgrep -P "$VNET_UP_PID"); do
		awk -v pid="$pid" '/^RssAnon:/ {a = $2} /^RssFile:/ {f = $2} /^VmHWM:/ {h = $2} END {printf "  pid %s: anon %d MiB, file %d MiB, peak %d MiB\n", pid, a / 1024, f / 1024, h / 1024}' "/proc/$pid/status"
	done
}

# rss_reset: the peak (VmHWM) of both processes starts again from now
# (clear_refs 5), so that the peak is the bench's, not the start-up's.
rss_reset() {
	local pid
	for pid in "$VNET_UP_PID" $(pgrep -P "$VNET_UP_PID"); do echo 5 >"/proc/$pid/clear_refs"; done
}

# rss_row: vnet up's memory (helper + engine): idle (measured before the
# first row), peak through the whole run (the two peaks summed, an upper
# bound), and after it, once vnet up has seen it idle (it trims then:
# core/cmd/vnet/uptrim_linux.go, every 2 s).
rss_row() {
	sleep 5
	local after hwm line
	after=$(kib VmRSS)
	hwm=$(kib VmHWM)
	echo "vnet up after the run:"
	rss_split
	line="| \`vnet up\` RSS idle / peak / after, MiB | – | peak $((PEER_RSS_PEAK / 1024)) (tailscaled) | $((RSS_IDLE / 1024)) / $((hwm / 1024)) / $((after / 1024)) | – |"
	TABLE+=("$line")
	echo "$line"
}

world_up
trap bench_down EXIT
peer_up
servers "$NS_CLUSTER" 127.0.0.1 "$CLUSTER_IP"
[ -z "$PEER_MISSING" ] && servers "$NS_PEER" 127.0.0.1

vnet_config_yaml company.test >"$WORK/vc.yaml"
ctl create "$WORK/vc.yaml" >/dev/null
app iperf 5201
app pg 5432
app redis 6379
token=$(ctl users add bench --roles=dev | signup_token)
in_user "$VNET" login --proxy="$PROXY" --user=bench --token="$token" --no-password --ca-pin="$CA_PIN" >/dev/null
vnet_up ${MTU:+--mtu "$MTU"}
for name in iperf pg redis; do wait_for "$name.company.test" in_user getent ahostsv4 "$name.company.test"; done
sleep 5 # idle: vnet up trims once it has seen 2 s without traffic
RSS_IDLE=$(kib VmRSS)
echo "vnet up idle:"
rss_split
rss_reset

wanted iperf && row_iperf
wanted iperf8 && row_iperf8
wanted pgbench && row_pgbench
wanted redis && row_redis
wanted dns && row_dns
wanted rss && rss_row

note="Each cell: median of $reps runs of ${secs} s (min–max); \`sudo BENCH_SECONDS=$secs scripts/bench.sh\`${MTU:+ with MTU=$MTU}."
[ -n "$PEER_MISSING" ] && note="$note No tailscaled column: $PEER_MISSING."
echo
table_text "$note" | tee "$WORK/table.md"
if [ "${BENCH_DOC:-}" = 1 ] || { [ -z "${BENCH_ROWS:-}" ] && [ "${BENCH_DOC:-}" != 0 ]; }; then
	write_doc "$REPO/docs/benchmarks.md" "$(cat "$WORK/table.md")"
	echo "(written to docs/benchmarks.md)"
fi
