#!/usr/bin/env bash
# Keep the per-packet code honest: what runs on worker lcores (dataplane/,
# and the cache's reader, cache/cache_lookup.c) may not allocate, log, read
# the clock through libc, lock, make syscalls or use ldns. DPDK's own inline
# functions (rte_*) are allowed; this greps our code only.
set -uo pipefail
cd "$(dirname "$0")/.."

forbidden=(
    '\b(malloc|calloc|realloc|free|strdup|rte_malloc|rte_zmalloc|rte_free)\s*\('
    '\b(printf|fprintf|puts|fputs|perror|syslog|vsnprintf|snprintf|RTE_LOG|rte_log|lv_log|lv_err|lv_warn|lv_info|lv_debug)\s*\('
    '\b(time|gettimeofday|clock_gettime|sleep|usleep|nanosleep)\s*\('
    '\bpthread_(mutex|rwlock|cond|spin)_\w+'
    '\brte_(spinlock|rwlock)_\w+'
    '\b(read|write|send|sendto|sendmsg|recv|recvfrom|recvmsg|ioctl|open|close|poll|epoll_wait|select|syscall|mmap)\s*\('
    '\bldns_\w+|<ldns/'
)
# Comments and strings may say anything: check the code with comments
# stripped (gcc -fpreprocessed removes them without expanding includes).
status=0
# every file that runs on worker lcores
worker_code=$(find dataplane -name '*.[ch]' | sort; echo cache/cache_lookup.c)
for f in $worker_code; do
    code=$(gcc -fpreprocessed -dD -E -P "$f" 2>/dev/null) || code=$(cat "$f")
    for re in "${forbidden[@]}"; do
        if hits=$(printf '%s\n' "$code" | grep -nE "$re"); then
            echo "check-dataplane: forbidden in $f ($re):"
            echo "$hits"
            status=1
        fi
    done
done
# headers the dataplane includes may not expose ldns or pthread types
for h in $(grep -hoE '#include "levee/[a-z_]+\.h"' $worker_code 2>/dev/null |
           sed -E 's/.*"(levee\/[a-z_]+\.h)"/include\/\1/' | sort -u); do
    if grep -nE 'ldns_|pthread_' "$h"; then
        echo "check-dataplane: $h is included by worker code but names ldns or pthread types"
        status=1
    fi
done
[ $status -eq 0 ] && echo "check-dataplane: clean"
exit $status
