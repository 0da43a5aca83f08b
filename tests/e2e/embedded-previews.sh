#!/bin/sh
# embedded_previews = yes: a JPEG's EXIF thumbnail stands in for the decode
# only when it is a JPEG at least as large as every size asked for and of the
# image's shape; the orientation still applies, a truncated file still fails,
# and anything else decodes the image. The main image is blue and its preview
# red, so a thumbnail's colour says which one it was made from.
. "$(dirname "$0")/lib.sh"

command -v exiftool >/dev/null || { fail "exiftool is missing (scripts/deps installs libimage-exiftool-perl)"; done_testing; exit; }

colour() { # FILE: "red", "blue" or the pixel at its centre
	w=$(gm identify -format '%w' "$1"); h=$(gm identify -format '%h' "$1")
	px=$(gm convert "$1" -crop "1x1+$((w / 2))+$((h / 2))" -depth 8 txt:- | sed -n 's/.*(\([^)]*\)).*/\1/p' | tr -d ' ')
	r=${px%%,*}; b=${px##*,}
	if [ "$r" -gt 200 ] && [ "$b" -lt 60 ]; then echo red; elif [ "$b" -gt 200 ] && [ "$r" -lt 60 ]; then echo blue; else echo "$px"; fi
}
preview() { # NAME WxH [PREVIEW-FILE]: a blue 2560x1600 JPEG named NAME carrying a preview
	gm convert -size 2560x1600 xc:blue "$T/in/$1"
	p=${3:-$T/p-$2.jpg}
	[ -e "$p" ] || gm convert -size "$2" xc:red "$p"
	exiftool -q -q -overwrite_original "-ThumbnailImage<=$p" "$T/in/$1"
}
run() { # NAME KEY=VALUE...: a --once run with an output of its own
	name=$1; shift
	printf '[drop:x]\nsource = %s\noutput = %s\n' "$T/in" "$T/out-$name" >"$T/$name.conf"
	for kv in "$@"; do printf '%s\n' "$kv" >>"$T/$name.conf"; done
	"$THUMBWATCH" --config "$T/$name.conf" --once >/dev/null 2>"$T/$name.err"
}

preview good.jpg 160x100
preview letterboxed.jpg 160x120
preview small.jpg 80x50
preview turned.jpg 160x100
exiftool -q -overwrite_original -n -Orientation=6 "$T/in/turned.jpg"
# A preview that is not a JPEG, and one that is a broken JPEG.
gm convert -size 160x100 xc:red "$T/p-png.png"
preview notjpeg.jpg 160x100 "$T/p-png.png"
gm convert -size 160x100 plasma: "$T/p-plasma.jpg"
head -c "$(($(wc -c <"$T/p-plasma.jpg") / 2))" "$T/p-plasma.jpg" >"$T/p-cut.jpg"
preview brokenpreview.jpg 160x100 "$T/p-cut.jpg"
# A file cut short keeps its preview: it must still fail as truncated.
preview whole.jpg 160x100
head -c "$(($(wc -c <"$T/in/whole.jpg") - 2000))" "$T/in/whole.jpg" >"$T/in/cut.jpg"; rm "$T/in/whole.jpg"

check "the test images carry their previews" sh -c "exiftool -s -s -s -ThumbnailImage '$T/in/good.jpg' | grep -q Binary"

run off
is "$(colour "$T/out-off/good_thumbnail.jpg")" blue "off by default: the image is decoded"

run on "embedded_previews = yes"
is "$?" 1 "embedded_previews = yes: exit 1 (the truncated file fails)"
is "$(colour "$T/out-on/good_thumbnail.jpg")" red "a 160x100 preview of a 2560x1600 image makes the 128x128 thumbnail"
is "$(dims "$T/out-on/good_thumbnail.jpg")" "128 80 JPEG" "... at the size a decode makes"
is "$(colour "$T/out-on/letterboxed_thumbnail.jpg")" blue "a 160x120 (4:3) preview of a 16:10 image is refused"
is "$(colour "$T/out-on/small_thumbnail.jpg")" blue "an 80x50 preview is too small for 128x128: refused"
is "$(colour "$T/out-on/turned_thumbnail.jpg")" red "with orientation 6 the preview is used ..."
is "$(dims "$T/out-on/turned_thumbnail.jpg")" "80 128 JPEG" "... and turned as the image is"
is "$(colour "$T/out-on/notjpeg_thumbnail.jpg")" blue "a preview that is not a JPEG is refused"
is "$(colour "$T/out-on/brokenpreview_thumbnail.jpg")" blue "a corrupt preview is refused"
check "a truncated file with an intact preview makes no thumbnail" is_gone "$T/out-on/cut_thumbnail.jpg"
check "... and fails as truncated" grep -q "cut.jpg.*truncated" "$T/on.err"

run big "embedded_previews = yes" "sizes = 128x128 256x256" "name = {stem}_{size}{ext}"
is "$(colour "$T/out-big/good_128x128.jpg")" blue "with a 256x256 size too, a 160x100 preview is refused for all sizes"
is "$(dims "$T/out-big/good_256x256.jpg")" "256 160 JPEG" "... and both sizes come from the decode"

run keep "embedded_previews = yes" "strip = no"
is "$(colour "$T/out-keep/good_thumbnail.jpg")" blue "strip = no: the image is decoded (the preview has none of its metadata)"

run bad "embedded_previews = sometimes"
is "$?" 2 "embedded_previews = sometimes is a config error"
check "... naming the file, line and what is expected" grep -q "$T/bad.conf:4: .*embedded_previews .sometimes.: expected yes or no" "$T/bad.err"

done_testing
