# shellcheck shell=bash
# Measuring helpers for scripts/bench.sh: samples per table cell, the
# cell's median and range, the table itself and the generated section of
# docs/benchmarks.md. Source after world.sh.
#
# A cell is named ROW/COLUMN (COLUMN: direct, peer, vnet); `sample` runs a
# measuring command and appends the number it prints to the cell, `row`
# prints one table line from the cells of ROW.

declare -A SAMPLES=() # ROW/COLUMN -> space-separated numbers
TABLE=()              # the table's body lines, in order

# sample CELL CMD...: run CMD (which prints one number) and record that
# number in CELL. A run that prints nothing records nothing: the cell shows
# fewer samples rather than a made-up zero.
sample() {
	local cell=$1 v
	shift
	v=$("$@" 2>>"$WORK/bench-errors.log" || true)
	if [[ "$v" =~ ^[0-9.]+$ ]]; then
		SAMPLES[$cell]="${SAMPLES[$cell]:-} $v"
	else
		echo "  no figure from: $* ($(tail -n 1 "$WORK/bench-errors.log" 2>/dev/null))" >&2
	fi
}

# stat CELL: "median min max" of CELL's samples, or nothing if it has none.
stat() {
	local s=${SAMPLES[$1]:-}
	[ -n "$s" ] || return 0
	tr ' ' '\n' <<<"$s" | grep . | sort -g | awk '{v[NR]=$1} END {
		m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2
		print m, v[1], v[NR]}'
}

# cell CELL DIGITS: "median (min–max)" of CELL with DIGITS decimals, or "–".
cell() {
	local st
	st=$(stat "$1")
	[ -n "$st" ] || { echo "–"; return; }
	awk -v d="$2" '{f = "%." d "f"; printf(f " (" f "–" f ")\n", $1, $2, $3)}' <<<"$st"
}

# ratio A B: median(A) / median(B) as "0.00×", or "–".
ratio() {
	local a b
	a=$(stat "$1" | awk '{print $1}')
	b=$(stat "$2" | awk '{print $1}')
	[ -n "$a" ] && [ -n "$b" ] || { echo "–"; return; }
	awk -v a="$a" -v b="$b" 'BEGIN {if (b > 0) printf("%.2f×\n", a/b); else print "–"}'
}

# row ROW LABEL DIGITS [BASE]: one table line; the last column is VNet over
# the peer, or over BASE (a column name) when given.
row() {
	local id=$1 label=$2 digits=$3 base=${4:-peer} line
	line="| $label | $(cell "$id/direct" "$digits") | $(cell "$id/peer" "$digits") | $(cell "$id/vnet" "$digits") | $(ratio "$id/vnet" "$id/$base") |"
	TABLE+=("$line")
	echo "$line"
}

# wanted NAME: whether BENCH_ROWS (space- or comma-separated names, empty
# for all) selects the row NAME.
wanted() {
	[ -z "${BENCH_ROWS:-}" ] && return 0
	[[ ",${BENCH_ROWS// /,}," == *",$1,"* ]]
}

# machine: one line naming the machine and the run.
machine() {
	echo "$(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), Linux $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
}

# table_text HEADER_NOTE: the whole table in Markdown on stdout.
table_text() {
	echo "Machine: $(machine). $1"
	echo
	echo "| row | direct (veth) | tailscaled netstack | VNet | VNet / tailscaled |"
	echo "|---|---|---|---|---|"
	printf '%s\n' "${TABLE[@]}"
}

# write_doc FILE TEXT: replace what stands between the bench markers in FILE
# with TEXT (the markers are added at the end when missing).
write_doc() {
	local file=$1 text=$2 begin='<!-- bench.sh: begin generated table -->' end='<!-- bench.sh: end generated table -->'
	grep -qF "$begin" "$file" || printf '\n## Last `make bench`\n\n%s\n%s\n' "$begin" "$end" >>"$file"
	python3 - "$file" "$begin" "$end" "$text" <<-'EOF'
		import sys
		path, begin, end, text = sys.argv[1:]
		s = open(path).read()
		head, rest = s.split(begin, 1)
		_, tail = rest.split(end, 1)
		open(path, "w").write(head + begin + "\n" + text.rstrip("\n") + "\n" + end + tail)
	EOF
}
