#!/bin/sh
# The in-process benchmark, as docs/performance.md quotes it.
#
# Builds bench/lv_bench (release, in build-bench) if needed, reserves 2 MiB
# hugepages when run as root (put back as they were on exit; LV_BENCH_HUGE=0
# to skip), runs the bench RUNS times (default 3) and prints the median of
# every figure, then runs the short --callgrind mode under valgrind and
# prints instructions per query inside lv_worker_handle_burst, with the
# share of each dataplane function. Extra arguments go to every timed run
# (e.g. --names 100000); CG_ARGS (e.g. --offload) go to the callgrind run
# only. Bounded: each run is under `timeout`.
#
#   bench/run.sh                 # 1M names, Zipf s=1.0, 3 runs + callgrind
#   CG_ARGS=--offload bench/run.sh --offload
set -eu

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
RUNS=${RUNS:-3}
OUT=$(mktemp -d /tmp/lv_bench_run.XXXXXX)
HUGE_PAGES=256
old_nr=""
mounted=""

cleanup() {
	if [ -n "$mounted" ]; then umount /dev/hugepages 2>/dev/null || true; fi
	if [ -n "$old_nr" ]; then
		echo "$old_nr" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
	fi
	rm -rf "$OUT"
}
trap cleanup EXIT INT TERM

if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" -Dbuildtype=release >"$OUT/setup.log" ||
		{ cat "$OUT/setup.log"; exit 1; }
fi
ninja -C "$BUILD" bench/lv_bench >"$OUT/build.log" ||
	{ cat "$OUT/build.log"; exit 1; }
BIN=$BUILD/bench/lv_bench

# Hugepages: only when root, only by raising the pool, undone on exit.
if [ "${LV_BENCH_HUGE:-1}" != 0 ] && [ "$(id -u)" = 0 ]; then
	cur=$(cat /proc/sys/vm/nr_hugepages)
	if [ "$cur" -lt "$HUGE_PAGES" ]; then
		old_nr=$cur
		echo "$HUGE_PAGES" >/proc/sys/vm/nr_hugepages || true
	fi
	mkdir -p /dev/hugepages
	if ! mountpoint -q /dev/hugepages; then
		mount -t hugetlbfs nodev /dev/hugepages && mounted=1 || true
	fi
fi

echo "== lv_bench $* ($RUNS runs, median)"
i=1
while [ "$i" -le "$RUNS" ]; do
	if ! timeout 120 "$BIN" "$@" >"$OUT/run.$i" 2>"$OUT/err.$i"; then
		cat "$OUT/run.$i" "$OUT/err.$i"
		echo "lv_bench run $i failed" >&2
		exit 1
	fi
	i=$((i + 1))
done
grep -h -v '^result ' "$OUT/run.1" | grep -v '^verified\|^target\|^full'
cat "$OUT"/run.* | awk '
	$1 == "result" { v[$2] = v[$2] " " $3; if (!($2 in seen)) { seen[$2] = 1; order[n++] = $2 } }
	END {
		for (k = 0; k < n; k++) {
			m = split(substr(v[order[k]], 2), a, " ")
			for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
				if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			printf "%-22s %10s   (runs: %s)\n", order[k], a[int((m + 1) / 2)], substr(v[order[k]], 2)
		}
	}'
grep -h '^verified' "$OUT/run.1"

echo "== callgrind (--callgrind: 50k names, 100k queries, every answer checked)"
if ! command -v valgrind >/dev/null; then
	echo "valgrind not installed: no instruction counts"
	exit 0
fi
if ! timeout 240 valgrind --tool=callgrind \
	--toggle-collect=lv_worker_handle_burst \
	--callgrind-out-file="$OUT/cg.out" "$BIN" --callgrind ${CG_ARGS:-} \
	>"$OUT/cg.txt" 2>"$OUT/cg.err"; then
	cat "$OUT/cg.txt" "$OUT/cg.err"
	echo "callgrind run failed" >&2
	exit 1
fi
q=$(awk '$1 == "callgrind_queries" { print $2 }' "$OUT/cg.txt")
callgrind_annotate --inclusive=yes "$OUT/cg.out" 2>/dev/null | awk -v q="$q" '
	/PROGRAM TOTALS/ { gsub(",", "", $1); printf "instructions_per_query %.0f  (Ir in lv_worker_handle_burst / %d queries)\n", $1 / q, q }
	/:lv_(pkt_classify|query_parse|cache_lookup_bulk|response_from_entry_aged|response_from_entry|response_sum|pkt_finish_reply|worker_handle_burst) / {
		ir = $1; gsub(",", "", ir)
		match($0, /:lv_[a-z_]+ /); fn = substr($0, RSTART + 1, RLENGTH - 2)
		printf "  %-28s %6.0f Ir/query (inclusive)\n", fn, ir / q
	}'
