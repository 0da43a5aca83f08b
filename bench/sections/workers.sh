#!/bin/sh
# bench/sections/workers.sh - --once and Pillow at 1-4 workers on the photos
# (plot: workers.png). Run by bench/run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

photo_corpus
src=$B/photo/jpeg out=$B/out
n=$(find "$src" -type f | wc -l)
say ""
say "## Workers (photos, images/s)"
say ""
say "| workers | thumbwatch | Pillow pool |"
say "|---|---|---|"
: >"$B/results/workers.dat"
for w in 1 2 3 4; do
	prep="rm -rf '$out'; mkdir -p '$out'"
	a=$(echo "$n / $(best "$prep" "'$TW' --once -w $w '$src' '$out'")" | bc -l)
	b=$(echo "$n / $(best "$prep" "$PY '$here/pillow-thumbs.py' '$src' '$out' $w")" | bc -l)
	say "| $w | $(printf '%.1f' "$a") | $(printf '%.1f' "$b") |"
	echo "$w $a $b" >>"$B/results/workers.dat"
done
rm -rf "$out"
gnuplot <<GNUPLOT
set terminal pngcairo size 640,400
set output "$B/results/workers.png"
set title "Thumbnails of $n photos on $(nproc) cores"
set xlabel "workers (threads or processes)"
set ylabel "images/s"
set xtics 1
set yrange [0:*]
set key bottom right
plot "$B/results/workers.dat" using 1:2 with linespoints title "thumbwatch --once", \
     "$B/results/workers.dat" using 1:3 with linespoints title "Pillow, ProcessPoolExecutor"
GNUPLOT
say ""
say "Plot: $B/results/workers.png"
