#!/bin/sh
# bench/sections/throughput.sh - --once on photos, 24-megapixel JPEGs and PNGs
# against Pillow, vipsthumbnail, gm convert and libjpeg-turbo alone, with the
# runs of the methods taking turns. Run by bench/run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

big_corpus() { # 24-megapixel JPEGs, as a current camera makes
	[ -d "$B/big" ] && return
	photo_corpus
	mkdir -p "$B/big.tmp"
	ls "$B/photo/jpeg" | head -n 12 | while read -r f; do
		gm convert "$B/photo/jpeg/$f" -resize '6000x4000!' -quality 92 "$B/big.tmp/$f"
	done
	mv "$B/big.tmp" "$B/big"
}

# method LABEL CMD: a row of the table being made, in $B/methods (a line
# each: the label, a tab, the command); the best time of row N so far is in
# $B/best.N.
method() { printf '%s\t%s\n' "$1" "$2" >>"$B/methods"; }

# throughput NAME DIR FLOOR: one table of tools on the files in DIR.
throughput() {
	name=$1 src=$2 floor=$3
	out=$B/out
	list=$B/list
	find "$src" -type f | sort >"$list"
	n=$(wc -l <"$list")
	say ""
	say "### $name: $n files, $(du -sh "$src" | cut -f1), $W workers"
	say ""
	say "| method | best s | images/s | time / thumbwatch's |"
	say "|---|---|---|---|"
	prep="rm -rf '$out'; mkdir -p '$out'"
	: >"$B/methods"
	rm -f "$B"/best.*
	method "thumbwatch --once -w $W" "'$TW' --once -w $W '$src' '$out'"
	method "Pillow thumbnail(), ProcessPoolExecutor($W)" "$PY '$here/pillow-thumbs.py' '$src' '$out' $W"
	method "vipsthumbnail, $W in parallel" \
		"xargs -d '\n' -a '$list' -P $W -n 16 vipsthumbnail -s ${BOX}x$BOX -o '$out/%s_thumbnail.jpg[Q=85]'"
	method "gm convert -size $((2 * BOX))x$((2 * BOX)) -thumbnail, $W in parallel" \
		"xargs -d '\n' -a '$list' -P $W -n 8 '$here/gm-thumbs' '$out' $BOX $((2 * BOX))x$((2 * BOX))"
	method "gm convert -thumbnail (no size hint), $W in parallel" \
		"xargs -d '\n' -a '$list' -P $W -n 8 '$here/gm-thumbs' '$out' $BOX 0"
	[ "$floor" = yes ] && method "libjpeg-turbo alone at the same scale, $W processes (the floor)" \
		"xargs -d '\n' -a '$list' -P $W -n $((n / W + 1)) '$B/bin/floor' $BOX"
	# The runs take turns, so that a noisy moment hits every method alike.
	for _ in $(seq "$RUNS"); do
		j=0
		while IFS='	' read -r label cmd; do
			j=$((j + 1))
			t=$(RUNS=1 best "$prep" "$cmd" </dev/null)
			b=$(cat "$B/best.$j" 2>/dev/null || true)
			if [ -z "$b" ] || lt "$t" "$b"; then echo "$t" >"$B/best.$j"; fi
		done <"$B/methods"
	done
	tw=$(cat "$B/best.1")
	j=0
	while IFS='	' read -r label cmd; do
		j=$((j + 1))
		t=$(cat "$B/best.$j")
		say "| $label | $(fmt "$t") | $(echo "$n / $t" | bc) | $(ratio "$t" "$tw") |"
	done <"$B/methods"
	say ""
	say "Peak RSS of thumbwatch --once: $(peak_rss "rm -rf '$out'; '$TW' --once -w $W '$src' '$out'") MB."
	rm -rf "$out"
	mkdir -p "$out"
	daemon_start -w "$W" "$src" "$out"
	wait_log "caught up in" 600
	say "Peak RSS of the daemon making the same thumbnails: $(($(status_kb VmHWM) / 1024)) MB."
	daemon_stop
	rm -rf "$out"
}

photo_corpus
big_corpus
say ""
say "## Throughput"
throughput "Photos (JPEG, mostly 2560x1600)" "$B/photo/jpeg" yes
throughput "24-megapixel JPEGs (6000x4000)" "$B/big" yes
throughput "PNG wallpapers" "$B/photo/png" no
