#!/bin/sh
# bench/sections/noop.sh - --once and the daemon's catch-up over
# BENCH_SMALL_FILES up-to-date files. Run by bench/run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

small_corpus() { # N small JPEGs in folders of 1,000
	n=${BENCH_SMALL_FILES:-100000}
	[ -f "$B/small.$n" ] && return
	rm -rf "$B/small" "$B/small-out" "$B"/small.*
	gm convert -size 96x64 plasma:fractal -quality 85 "$B/tiny.jpg"
	$PY - "$B/tiny.jpg" "$B/small" "$n" <<'PY'
import os, sys
data = open(sys.argv[1], "rb").read()
root, n = sys.argv[2], int(sys.argv[3])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.jpg" % i), "wb") as f:
        f.write(data)
PY
	touch "$B/small.$n"
}

small_corpus
src=$B/small out=$B/small-out
n=$(find "$src" -type f | wc -l)
say ""
say "## No-op pass ($n small JPEGs in $(find "$src" -mindepth 1 -type d | wc -l) folders, thumbnails up to date)"
say ""
first=$(RUNS=1 best "rm -rf '$out'" "'$TW' --once -w $W '$src' '$out'")
say "Making them in the first place: $(fmt "$first") s ($(echo "$n / $first" | bc) images/s)."
say ""
say "| method | best s | peak RSS MB |"
say "|---|---|---|"
t=$(best "" "'$TW' --once -w $W '$src' '$out'")
grep -q "made 0, up to date $n, failed 0" "$B/last.out" || { cat "$B/last.out" >&2; exit 1; }
rss=$(peak_rss "'$TW' --once -w $W '$src' '$out'")
mkdir -p "$B/empty" "$B/empty-out"
rss0=$(peak_rss "'$TW' --once -w $W '$B/empty' '$B/empty-out'")
say "| thumbwatch --once, all up to date | $(fmt "$t") | $rss (empty tree: $rss0) |"
say "| find -type f -newer (a walk and a stat a file, nothing else) | $(fmt "$(best "" "find '$src' -type f -newer '$B/tiny.jpg'")") | |"

daemon_start -w "$W" "$B/empty" "$B/empty-out"
wait_log "caught up in" 60
idle0=$(status_kb VmRSS)
daemon_stop
daemon_start -w "$W" "$src" "$out"
wait_log "caught up in" 600
line=$(grep -o "caught up in .*" "$DLOG")
rss1=$(status_kb VmRSS)
hwm=$(status_kb VmHWM)
daemon_stop
echo "$line" | grep -q "made 0, up to date $n, failed 0" || { echo "bench/run: $line" >&2; exit 1; }
say ""
say "The daemon's start-up catch-up over the same tree: $line."
say "Its RSS after the catch-up: $rss1 kB (peak $hwm kB), against $idle0 kB after the catch-up of an"
say "empty folder: $((rss1 - idle0)) kB more."
