#!/bin/sh
# bench/sections/latency.sh - the live daemon, one 4-megapixel JPEG at a
# time, from the file's close to its thumbnail's rename. Run by bench/run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

photo_corpus
count=${BENCH_LATENCY_FILES:-200}
src=$(find "$B/photo/jpeg" -name '*.jpg' | sort | while read -r f; do
	[ "$(gm identify -format '%w %h' "$f" | head -1)" = "2560 1600" ] && { echo "$f"; break; }
done)
# A camera writes baseline JPEGs; the web often progressive ones, which
# libjpeg decodes whole before it can scale them down.
gm convert "$src" -interlace None -quality 92 "$B/lat-baseline.jpg"
gm convert "$src" -interlace Line -quality 92 "$B/lat-progressive.jpg"
say ""
say "## Latency of the live daemon ($count files of 2560x1600, 4.1 megapixels, one at a time, $W workers)"
say ""
say "From the file's close to its thumbnail's rename, in ms:"
say ""
say "| JPEG | p50 | p99 | max | mean |"
say "|---|---|---|---|---|"
for kind in baseline progressive; do
	rm -rf "$B/lat"
	mkdir -p "$B/lat/in" "$B/lat/out"
	daemon_start -w "$W" "$B/lat/in" "$B/lat/out"
	wait_log "ready:" 60
	# shellcheck disable=SC2046
	set -- $("$B/bin/latency" "$B/lat-$kind.jpg" "$B/lat/in" "$B/lat/out" "$count")
	daemon_stop
	say "| $kind, $(($(wc -c <"$B/lat-$kind.jpg") / 1024)) KB | $1 | $2 | $3 | $4 |"
done
rm -rf "$B/lat"
