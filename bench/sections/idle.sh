#!/bin/sh
# bench/sections/idle.sh - CPU and RSS of a daemon watching BENCH_IDLE_DIRS
# folders for BENCH_IDLE_SECONDS. Run by bench/run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

nd=${BENCH_IDLE_DIRS:-10000}
secs=${BENCH_IDLE_SECONDS:-60}
if [ ! -f "$B/dirs.$nd" ]; then
	rm -rf "$B/dirs" "$B"/dirs.*
	$PY -c "
import os, sys
for i in range($nd):
    os.makedirs('$B/dirs/d%03d/e%05d' % (i // 100, i), exist_ok=True)"
	touch "$B/dirs.$nd"
fi
rm -rf "$B/dirs-out"
mkdir -p "$B/dirs-out"
daemon_start -w "$W" "$B/dirs" "$B/dirs-out"
wait_log "caught up in" 300
watched=$(grep -o "folders watched [0-9]*" "$DLOG")
hz=$(getconf CLK_TCK)
a=$(cpu_ticks)
s=$(now)
sleep "$secs"
b=$(cpu_ticks)
e=$(now)
rss=$(status_kb VmRSS)
daemon_stop
say ""
say "## Idle daemon ($watched)"
say ""
say "CPU over $secs s: $((b - a)) ticks of 1/$hz s, $(echo "scale=4; ($b - $a) * 100 / $hz / ($e - $s)" | bc -l | sed 's/^\./0./')% of a core; RSS $((rss / 1024)) MB."
