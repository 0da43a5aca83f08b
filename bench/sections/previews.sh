#!/bin/sh
# bench/sections/previews.sh - embedded EXIF previews on camera-style JPEGs.
# Run by bench/run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

exif_corpus() { # the photos, each carrying a 160-pixel EXIF preview of its shape
	[ -d "$B/exif" ] && return
	photo_corpus
	mkdir -p "$B/exif.tmp"
	for f in "$B/photo/jpeg/"*.jpg; do
		n=$(basename "$f")
		cp "$f" "$B/exif.tmp/$n"
		gm convert "$f" -thumbnail 160x160 -quality 75 "$B/preview.jpg"
		exiftool -q -q -overwrite_original "-ThumbnailImage<=$B/preview.jpg" "$B/exif.tmp/$n"
	done
	mv "$B/exif.tmp" "$B/exif"
}

exif_corpus
src=$B/exif out=$B/out
n=$(find "$src" -type f | wc -l)
printf '[drop:exif]\nsource = %s\noutput = %s\nembedded_previews = yes\n' "$src" "$out" >"$B/previews.conf"
prep="rm -rf '$out'; mkdir -p '$out'"
on=$(best "$prep" "'$TW' --config '$B/previews.conf' --once -w $W")
off=$(best "$prep" "'$TW' --once -w $W '$src' '$out'")
fl=$(best "" "find '$src' -type f | xargs -d '\n' -P $W -n $((n / W + 1)) '$B/bin/floor' $BOX")
rm -rf "$out"
say ""
say "## Embedded previews ($n photos carrying a 160-pixel EXIF preview, $W workers)"
say ""
say "| method | best s | images/s | floor's time / this |"
say "|---|---|---|---|"
say "| thumbwatch, embedded_previews = yes | $(fmt "$on") | $(echo "$n / $on" | bc) | $(ratio "$fl" "$on") |"
say "| thumbwatch, embedded_previews = no | $(fmt "$off") | $(echo "$n / $off" | bc) | $(ratio "$fl" "$off") |"
say "| libjpeg-turbo alone at the same scale (the floor) | $(fmt "$fl") | $(echo "$n / $fl" | bc) | 1.00 |"
