#!/bin/sh
# Output formats: format = jpeg|png|webp writes that format (magic bytes), the
# extension in the name follows it, alpha written as JPEG is flattened on the
# background, quality changes the size; strip = no keeps the metadata with the
# orientation reset, as the pixels are turned already.
. "$(dirname "$0")/lib.sh"

magic() { od -An -tx1 -N12 "$1" | tr -d ' \n'; }
mkdir "$T/in/sub"
gm convert -size 200x200 xc:none -fill red -draw 'circle 100,100 100,60' "$T/in/alpha.png"
gm convert -size 640x480 plasma: "$T/in/sub/photo.jpg"

run() { # NAME KEY=VALUE...: a --once run with a drop of its own
	name=$1; shift
	printf '[drop:%s]\nsource = %s\noutput = %s\n' "$name" "$T/in" "$T/out-$name" >"$T/$name.conf"
	for kv in "$@"; do printf '%s\n' "$kv" >>"$T/$name.conf"; done
	"$THUMBWATCH" --config "$T/$name.conf" --once >/dev/null 2>"$T/$name.err"
}

run jpeg "format = jpeg" "background = #00ff00"
is "$?" 0 "format = jpeg: exit 0"
check "a PNG source becomes NAME_thumbnail.jpg" is_file "$T/out-jpeg/alpha_thumbnail.jpg"
is "$(magic "$T/out-jpeg/alpha_thumbnail.jpg" | cut -c1-6)" "ffd8ff" "... and it is JPEG (magic bytes)"
corner=$(gm convert "$T/out-jpeg/alpha_thumbnail.jpg" -crop 1x1+2+2 -depth 8 txt:- | sed -n 's/.*(\([^)]*\)).*/\1/p' | tr -d ' ')
g=$(echo "$corner" | cut -d, -f2); r=$(echo "$corner" | cut -d, -f1)
check "alpha written as JPEG is flattened on the background #00ff00 (corner is $corner)" test "$g" -gt 200 -a "$r" -lt 60
check "the red circle is still there" sh -c "gm convert '$T/out-jpeg/alpha_thumbnail.jpg' -crop 1x1+64+64 -depth 8 txt:- | grep -q '(2[0-9][0-9], *[0-9], *[0-9])\|(2[0-9][0-9], *[0-9][0-9], *[0-9])'"

run png "format = png"
check "format = png: a JPEG source becomes NAME_thumbnail.png" is_file "$T/out-png/sub/photo_thumbnail.png"
is "$(magic "$T/out-png/sub/photo_thumbnail.png" | cut -c1-16)" "89504e470d0a1a0a" "... and it is PNG (magic bytes)"

run webp "format = webp"
m=$(magic "$T/out-webp/sub/photo_thumbnail.webp")
is "$(echo "$m" | cut -c1-8)$(echo "$m" | cut -c17-24)" "5249464657454250" "format = webp: RIFF....WEBP (magic bytes)"

run low "quality = 20"
run high "quality = 95"
lo=$(wc -c <"$T/out-low/sub/photo_thumbnail.jpg"); hi=$(wc -c <"$T/out-high/sub/photo_thumbnail.jpg")
check "quality changes the size ($lo bytes at 20, $hi at 95)" test "$lo" -lt "$hi"

# libpng warns "iCCP: known incorrect sRGB profile" on many real PNGs (this
# one carries the profile of a Debian wallpaper): a warning, not corruption.
mkdir "$T/icc"
cp "$TOP_SRCDIR/tests/data/srgb-warning.png" "$T/icc/"
"$THUMBWATCH" --once "$T/icc" "$T/icc-out" >/dev/null 2>"$T/icc.err"
is "$?" 0 "a PNG whose ICC profile libpng warns about: exit 0"
is "$(dims "$T/icc-out/srgb-warning_thumbnail.png")" "64 40 PNG" "... and its thumbnail is made"

# A large PNG or TIFF (no reduced decode) is averaged down before Lanczos:
# the picture must survive, turned by its orientation tag. 1200x600: red on
# the left two thirds, blue on the right.
mkdir "$T/big"
gm convert -size 800x600 xc:red -size 400x600 xc:blue +append "$T/big/wide.png"
gm convert "$T/big/wide.png" -orient RightTop "$T/big/turned.tif"
"$THUMBWATCH" --once "$T/big" "$T/big-out" >/dev/null 2>&1
px() { gm convert "$1" -crop "1x1+$2+$3" -depth 8 txt:- | sed -n 's/.*(\([^)]*\)).*/\1/p' | tr -d ' '; }
is "$(dims "$T/big-out/wide_thumbnail.png") $(px "$T/big-out/wide_thumbnail.png" 10 32) $(px "$T/big-out/wide_thumbnail.png" 120 32)" \
	"128 64 PNG 255,0,0 0,0,255" "a 1200x600 PNG: 128x64, red left, blue right"
is "$(dims "$T/big-out/turned_thumbnail.tif") $(px "$T/big-out/turned_thumbnail.tif" 32 10) $(px "$T/big-out/turned_thumbnail.tif" 32 120)" \
	"64 128 TIFF 255,0,0 0,0,255" "the same as a TIFF with orientation 6: 64x128, red on top, blue below"

run bad "format = gif"
is "$?" 2 "format = gif is refused (only same, jpeg, png, webp)"
check "... naming the key" grep -q "format 'gif': expected same, jpeg, png or webp" "$T/bad.err"

# strip = no: metadata kept, with the orientation reset (the pixels are upright already).
if command -v python3 >/dev/null; then
	python3 - "$T/in/sub/photo.jpg" "$T/in/turned.jpg" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack("<I", 0)
body = b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd
open(sys.argv[2], "wb").write(d[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + d[2:])
PY
	run keep "strip = no"
	v=$(gm identify -verbose "$T/out-keep/turned_thumbnail.jpg")
	check "strip = no: the EXIF profile is kept" sh -c "echo '$v' | grep -q 'Profile-EXIF'"
	check "... with the orientation reset to 1" sh -c "echo '$v' | grep -q '^ *Orientation: 1$'"
	is "$(dims "$T/out-keep/turned_thumbnail.jpg")" "96 128 JPEG" "... and the pixels turned"
	run strip
	check "strip = yes (the default): no EXIF" sh -c "! gm identify -verbose '$T/out-strip/turned_thumbnail.jpg' | grep -q Profile-EXIF"
else
	ok "# SKIP python3 is needed to write an EXIF orientation"
fi
done_testing
