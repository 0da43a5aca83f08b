#!/bin/sh
# bench/sections/camera.sh - what phones and cameras write: HEIC with and
# without a thumbnail item, AVIF, JPEG XL and DNG (a full-size JPEG preview),
# 12-megapixel (4032x3024, a phone's), thumbwatch --once against
# vipsthumbnail and gm convert, as ratios in one run. Run by bench/run;
# BENCH_CAMERA_FILES photos (8) of the photo corpus.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

# The corpus's version: a corpus made by an older bench is made again.
CAMERA_CORPUS=2     # 2: the DNGs hold a 4032x3024 raw image
camera_corpus() {
	[ "$(cat "$B/camera/.version" 2>/dev/null)" = "$CAMERA_CORPUS" ] && return
	rm -rf "$B/camera"
	photo_corpus
	t=$B/camera.tmp
	rm -rf "$t"
	mkdir -p "$t/base" "$t/heic-item" "$t/heic" "$t/avif" "$t/jxl" "$t/dng"
	ls "$B/photo/jpeg" | head -n "${BENCH_CAMERA_FILES:-8}" | while read -r f; do
		s=${f%.jpg}
		gm convert "$B/photo/jpeg/$f" -resize '4032x3024!' "$t/base/$s.png"
		gm convert "$t/base/$s.png" -quality 92 "$t/base/$s.jpg"
		heif-enc -q 60 --thumb 320 -o "$t/heic-item/$s.heic" "$t/base/$s.png" >/dev/null
		heif-enc -q 60 -o "$t/heic/$s.heic" "$t/base/$s.png" >/dev/null
		avifenc -s 8 "$t/base/$s.png" "$t/avif/$s.avif" >/dev/null
		cjxl "$t/base/$s.png" "$t/jxl/$s.jxl" >/dev/null 2>&1
		$PY "$top/tests/unit/make-dng.py" "$t/dng/$s.dng" --preview "$t/base/$s.jpg" --raw 4032x3024
	done
	rm -rf "$t/base"
	echo "$CAMERA_CORPUS" >"$t/.version"
	mv "$t" "$B/camera"
}

# try PREP CMD: as best, or "fails" when CMD fails (a tool that cannot read the format).
try() {
	if (eval "$1"; eval "$2") >/dev/null 2>&1; then best "$1" "$2"; else echo fails; fi
}
row() { # LABEL TIME N TW
	if [ "$2" = fails ]; then
		say "| $1 | fails | | |"
	else
		say "| $1 | $(fmt "$2") | $(echo "$3 / $2" | bc) | $(ratio "$2" "$4") |"
	fi
}

"$top/scripts/deps" libheif-examples libavif-bin libjxl-tools libvips-tools libraw-bin
camera_corpus
out=$B/out
prep="rm -rf '$out'; mkdir -p '$out'"
say ""
say "## Phone and camera formats (4032x3024, $W workers)"
say ""
say "| format, method | best s | images/s | time / thumbwatch's |"
say "|---|---|---|---|"
for kind in heic-item heic avif jxl dng; do
	src=$B/camera/$kind
	n=$(find "$src" -type f | wc -l)
	tw=$(best "$prep" "'$TW' --once -w $W '$src' '$out'")
	vips=$(try "$prep" "find '$src' -type f | xargs -d '\n' -P $W -n 4 vipsthumbnail -s ${BOX}x$BOX -o '$out/%s_thumbnail.jpg[Q=85]'")
	gm=$(try "$prep" "find '$src' -type f | xargs -d '\n' -P $W -n 4 sh -c 'for f; do gm convert \"\$f\" -auto-orient -thumbnail $BOX -quality 85 \"$out/\$(basename \"\$f\").jpg\"; done' sh")
	row "$kind ($n files): thumbwatch --once" "$tw" "$n" "$tw"
	row "$kind: vipsthumbnail, $W in parallel" "$vips" "$n" "$tw"
	row "$kind: gm convert -thumbnail, $W in parallel" "$gm" "$n" "$tw"
	if [ "$kind" = dng ]; then
		# What a RAW costs without its preview: libraw's full decode (demosaic) alone.
		full=$(try "$prep" "find '$src' -type f | xargs -d '\n' -P $W -n 4 dcraw_emu -Z - >/dev/null")
		row "$kind: libraw's full decode alone (dcraw_emu), $W in parallel" "$full" "$n" "$tw"
	fi
done
rm -rf "$out"
say ""
say "The dng files hold a 4032x3024 16-bit raw image (a camera's size) and a full-size JPEG preview;"
say "dcraw_emu decodes the raw image as a RAW converter would, without resizing it."
say "heic-item carries a 320x240 thumbnail item (heif-enc --thumb 320), which thumbwatch decodes instead"
say "of the image; dng is tests/unit/make-dng.py around a full-size JPEG preview. gm convert cannot read a"
say "DNG without dcraw, which Debian 12 does not install, and thumbwatch never asks it to."
