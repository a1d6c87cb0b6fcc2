#!/bin/sh
# Build the cache tests with AddressSanitizer and ThreadSanitizer and run
# them. Fails when a test fails or when any sanitizer report has a levee
# frame in it (a frame whose source is under control/, dataplane/, cache/, dns/, host/,
# include/, tests/ or bench/). Reports made only of DPDK frames are printed
# and counted but do not fail the run: Debian's DPDK is not instrumented
# (see tests/tsan.supp for what is suppressed and why).
#
# Usage: tests/run-sanitizers.sh            (from anywhere; root needed for EAL)
# Build dirs: build-asan (gcc, -Db_sanitize=address) and build-tsan (clang,
# -Db_sanitize=thread). LV_TEST_SECONDS sets the concurrency test's length.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
tests="tests/unit/test_cache tests/unit/test_cache_concurrency"
logdir=$(mktemp -d /tmp/lv-sanitizers.XXXXXX)
status=0

# debugoptimized, not the project's default release: reports need the
# debug information to name levee's frames (file and line).
setup() { # dir sanitizer [CC]
	if [ ! -f "$root/$1/build.ninja" ]; then
		if [ -n "${3:-}" ]; then
			CC=$3 meson setup "$root/$1" "$root" -Db_sanitize="$2" \
				-Db_lundef=false -Dbuildtype=debugoptimized \
				>"$logdir/$1-setup.log"
		else
			meson setup "$root/$1" "$root" -Db_sanitize="$2" \
				-Db_lundef=false -Dbuildtype=debugoptimized \
				>"$logdir/$1-setup.log"
		fi
	fi
	# shellcheck disable=SC2086
	ninja -C "$root/$1" $tests >"$logdir/$1-build.log" || {
		tail -20 "$logdir/$1-build.log"
		echo "FAIL: build of $1"
		exit 1
	}
}

# Print how many reports the log holds, and how many name a levee frame.
# A report runs from a "==...ERROR:" or "WARNING: ThreadSanitizer" line to
# its "SUMMARY:" line.
levee_reports() { # log
	awk '
	/WARNING: ThreadSanitizer|ERROR: (Address|Leak)Sanitizer/ {
		inrep = 1; lv = 0; n++
	}
	inrep && /#[0-9]+ / && /(\.\.\/|\/)(control|dataplane|cache|dns|host|include|tests|bench)\/[^ ]*\.[ch]:/ {
		lv = 1
	}
	inrep && /^SUMMARY:/ { inrep = 0; if (lv) bad++ }
	END { printf "%d %d\n", n + 0, bad + 0 }
	' "$1"
}

run() { # dir test env...
	dir=$1
	t=$2
	shift 2
	log="$logdir/$dir-$(basename "$t").log"
	rc=0
	env "$@" "$root/$dir/$t" >"$log" 2>&1 || rc=$?
	set -- $(levee_reports "$log")
	echo "$dir/$(basename "$t"): exit $rc, $1 sanitizer report(s), $2 with a levee frame ($log)"
	if [ "$rc" -ne 0 ] || [ "$2" -ne 0 ]; then
		grep -A40 -E "WARNING: ThreadSanitizer|ERROR: (Address|Leak)Sanitizer|FAILED|ERROR " "$log" | head -80
		status=1
	fi
}

setup build-asan address
setup build-tsan thread clang

for t in $tests; do
	run build-asan "$t" ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
	# exitcode=0: a report alone must not fail the run; we judge reports
	# by their frames above. The test's own failures still exit non-zero.
	run build-tsan "$t" \
		TSAN_OPTIONS="suppressions=$root/tests/tsan.supp exitcode=0 second_deadlock_stack=1"
done

if [ "$status" -eq 0 ]; then
	echo "PASS: no sanitizer report with a levee frame"
	rm -rf "$logdir"
else
	echo "FAIL: see $logdir"
fi
exit "$status"
