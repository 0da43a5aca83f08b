#!/bin/sh
# bench/sections/progressive.sh - the same 12-megapixel photos (4032x3024, a
# phone's) as baseline and as progressive JPEG (gm -interlace Line: libjpeg's
# standard scan script), thumbwatch --once on each against vipsthumbnail and
# gm convert, as ratios in one run; and the peak RSS of one file each. A
# progressive JPEG's thumbnail comes from its DC scan (decode-jpeg): the
# target is at most 2x the baseline JPEG's time. Run by bench/run;
# BENCH_PROGRESSIVE_FILES different photos (8) of the photo corpus.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

progressive_corpus() {
	[ -d "$B/progressive" ] && return
	photo_corpus
	t=$B/progressive.tmp
	rm -rf "$t"
	mkdir -p "$t/baseline" "$t/progressive"
	# Different photos: the wallpaper packages ship each picture at several
	# sizes (154 files, 22 pictures); the largest of each.
	# shellcheck disable=SC2012
	ls -S "$B/photo/jpeg" | awk -F_ '!seen[$1]++' | head -n "${BENCH_PROGRESSIVE_FILES:-8}" | while read -r f; do
		gm convert "$B/photo/jpeg/$f" -resize '4032x3024!' "$t/base.png"
		gm convert "$t/base.png" -quality 92 "$t/baseline/$f"
		gm convert "$t/base.png" -quality 92 -interlace Line "$t/progressive/$f"
	done
	rm -f "$t/base.png"
	mv "$t" "$B/progressive"
}

"$top/scripts/deps" libvips-tools
progressive_corpus
out=$B/out
prep="rm -rf '$out'; mkdir -p '$out'"
hint=$((2 * BOX))x$((2 * BOX))
n=$(find "$B/progressive/baseline" -type f | wc -l)
say ""
say "## Progressive JPEG (4032x3024, $n files, $W workers)"
say ""
say "| method | baseline s | progressive s | progressive / baseline | progressive / thumbwatch's |"
say "|---|---|---|---|---|"
tw_p=
for m in tw vips gm; do
	for kind in baseline progressive; do
		src=$B/progressive/$kind
		case $m in
		tw) cmd="'$TW' --once -w $W '$src' '$out'" ;;
		vips) cmd="find '$src' -type f | xargs -d '\n' -P $W -n 4 vipsthumbnail -s ${BOX}x$BOX -o '$out/%s_thumbnail.jpg[Q=85]'" ;;
		gm) cmd="find '$src' -type f | xargs -d '\n' -P $W -n 4 '$here/gm-thumbs' '$out' $BOX $hint" ;;
		esac
		t=$(best "$prep" "$cmd")
		if [ "$kind" = baseline ]; then t_b=$t; else t_p=$t; fi
	done
	[ "$m" = tw ] && tw_p=$t_p
	case $m in
	tw) label="thumbwatch --once -w $W" ;;
	vips) label="vipsthumbnail, $W in parallel" ;;
	gm) label="gm convert -size $hint -thumbnail, $W in parallel" ;;
	esac
	say "| $label | $(fmt "$t_b") | $(fmt "$t_p") | $(ratio "$t_p" "$t_b") | $(ratio "$t_p" "$tw_p") |"
done
one_b=$B/progressive/one-baseline one_p=$B/progressive/one-progressive
mkdir -p "$one_b" "$one_p"
f=$(find "$B/progressive/baseline" -type f -printf "%f\n" | sort | head -1)
cp "$B/progressive/baseline/$f" "$one_b/"
cp "$B/progressive/progressive/$f" "$one_p/"
say ""
say "Peak RSS, one file: thumbwatch --once $(peak_rss "rm -rf '$out'; '$TW' --once -w 1 '$one_b' '$out'") MB baseline,"
say "$(peak_rss "rm -rf '$out'; '$TW' --once -w 1 '$one_p' '$out'") MB progressive; gm convert -size $hint -thumbnail" \
	"$(peak_rss "gm convert -size $hint '$one_b/$f' -thumbnail $BOX '$out/b.jpg'") MB baseline," \
	"$(peak_rss "gm convert -size $hint '$one_p/$f' -thumbnail $BOX '$out/p.jpg'") MB progressive."
rm -rf "$out" "$one_b" "$one_p"
