#!/bin/sh
# What phones and cameras write: HEIC (with and without a thumbnail item),
# AVIF, JPEG XL and a RAW (a DNG with a JPEG preview), made here with Debian's
# encoders, are thumbnailed at the right size, as JPEG named NAME.EXT.jpg, in
# --once mode and by the daemon; the HEIC thumbnail item is used when it is
# large enough and only then; the bytes decide the decoder, not the name; an
# MP4 or a CR3 under an image's name and a HEIC declaring a huge size are
# refused before anything is decoded; formats = jpeg leaves HEIC alone; a
# HEIC's ICC profile is kept with strip = no; a libheif or libraw decode past
# job_timeout fails as a timeout.
. "$(dirname "$0")/lib.sh"

for tool in heif-enc avifenc cjxl python3; do
	command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool is not installed (scripts/deps)"; exit 0; }
done
"$THUMBWATCH" --version | grep -q '+heif +raw' || { echo "1..0 # SKIP built --without-heif or --without-raw"; exit 0; }

# 640x480: red on the left half, blue on the right.
mkdir "$T/make" "$T/cam"
gm convert -size 320x480 xc:red -size 320x480 xc:blue +append "$T/make/base.png"
gm convert "$T/make/base.png" -quality 90 "$T/make/base.jpg"
heif-enc -q 80 -o "$T/cam/plain.heic" "$T/make/base.png" >/dev/null
heif-enc -q 80 --thumb 320 -o "$T/cam/item.heic" "$T/make/base.png" >/dev/null
heif-enc -q 80 --thumb 64 -o "$T/cam/small-item.heic" "$T/make/base.png" >/dev/null
avifenc -s 9 "$T/make/base.png" "$T/cam/photo.avif" >/dev/null
cjxl "$T/make/base.png" "$T/cam/photo.jxl" >/dev/null 2>&1
# Orientation 6: the camera was turned; the preview is shown turned 90 degrees
# clockwise, red (its left) on top.
python3 "$TOP_SRCDIR/tests/unit/make-dng.py" "$T/cam/camera.dng" --preview "$T/make/base.jpg" --orientation 6
cp "$T/make/base.jpg" "$T/cam/really-jpeg.heic"
python3 - "$T/cam" "$T/cam/plain.heic" <<'PY'
import struct, sys
out, heic = sys.argv[1], open(sys.argv[2], "rb").read()
def box(kind, body):
    return struct.pack(">I", 8 + len(body)) + kind + body
# An MP4 and a Canon CR3 under image names: ftyp boxes without an image brand.
open(out + "/clip.heic", "wb").write(box(b"ftyp", b"isom\0\0\x02\0isommp41") + box(b"mdat", bytes(4096)))
open(out + "/canon.heic", "wb").write(box(b"ftyp", b"crx \0\0\0\x01crx isom") + box(b"mdat", bytes(4096)))
# A bomb: the primary's 'ispe' (image spatial extents) says 60000x60000.
i = heic.index(b"ispe") + 8
open(out + "/bomb.heic", "wb").write(heic[:i] + struct.pack(">II", 60000, 60000) + heic[i + 8:])
# Within max_width and max_height (libheif's own limit), over max_pixels: 400 megapixels.
open(out + "/bomb2.heic", "wb").write(heic[:i] + struct.pack(">II", 20000, 20000) + heic[i + 8:])
PY

px() { gm convert "$1" -crop "1x1+$2+$3" -depth 8 txt:- | sed -n 's/.*(\([^)]*\)).*/\1/p' | tr -d ' '; }
red() { c=$(px "$@"); r=${c%%,*}; b=${c##*,}; [ "$r" -gt 200 ] && [ "$b" -lt 60 ]; }
blue() { c=$(px "$@"); r=${c%%,*}; b=${c##*,}; [ "$r" -lt 60 ] && [ "$b" -gt 200 ]; }
red_left() { red "$1" 10 48 && blue "$1" 118 48; }
red_top() { red "$1" 48 10 && blue "$1" 48 118; }
magic() { od -An -tx1 -N3 "$1" | tr -d ' \n'; }

printf '[thumbwatch]\nlog_level = debug\n[drop:cam]\nsource = %s\noutput = %s\n' "$T/cam" "$T/once" >"$T/once.conf"
"$THUMBWATCH" --config "$T/once.conf" --once >/dev/null 2>"$T/log.once"
is "$?" 1 "--once over the camera files: exit 1 (the disguised and the bomb fail)"
for name in plain item small-item; do
	f=$T/once/${name}_thumbnail.heic.jpg
	is "$(dims "$f")" "128 96 JPEG" "HEIC $name.heic: NAME_thumbnail.heic.jpg, 128x96 JPEG"
	check "... red on the left, blue on the right" red_left "$f"
done
check "item.heic (a 320x240 thumbnail item): the item is decoded" \
	grep -q "item.heic' -> .*pixels from heif-thumbnail" "$T/log.once"
check "small-item.heic (a 64x48 item, too small for 128x96): the primary image is" \
	grep -q "small-item.heic' -> .*pixels from heif-primary" "$T/log.once"
check "plain.heic (no item): the primary image" grep -q "plain.heic' -> .*pixels from heif-primary" "$T/log.once"
is "$(dims "$T/once/photo_thumbnail.avif.jpg")" "128 96 JPEG" "AVIF: 128x96 JPEG"
check "... red on the left, blue on the right" red_left "$T/once/photo_thumbnail.avif.jpg"
is "$(dims "$T/once/photo_thumbnail.jxl.jpg")" "128 96 JPEG" "JPEG XL: 128x96 JPEG"
check "... red on the left, blue on the right" red_left "$T/once/photo_thumbnail.jxl.jpg"
is "$(dims "$T/once/camera_thumbnail.dng.jpg")" "96 128 JPEG" "DNG: its preview, turned by the RAW's orientation: 96x128"
check "... red on top, blue below" red_top "$T/once/camera_thumbnail.dng.jpg"
check "... from the embedded preview" grep -q "camera.dng' -> .*pixels from raw-preview" "$T/log.once"
is "$(magic "$T/once/really-jpeg_thumbnail.heic.jpg")" "ffd8ff" "a JPEG named .heic: decoded as the JPEG it is"
check "... by the JPEG decoder" grep -q "really-jpeg.heic' -> .*pixels from decode" "$T/log.once"
check "an MP4 named .heic is refused, saying what it is" \
	grep -q "clip.heic' failed (unsupported): not an allowed image format: an ISO media file of brand 'isom'" "$T/log.once"
check "a CR3 named .heic is refused, saying what it is" \
	grep -q "canon.heic' failed (unsupported): not an allowed image format: a Canon CR3" "$T/log.once"
check "a HEIC declaring 60000x60000 is refused as too large" grep -q "bomb.heic' failed (too-large): .*60000" "$T/log.once"
check "a HEIC declaring 20000x20000 is refused by max_pixels" \
	grep -q "bomb2.heic' failed (too-large): 20000x20000 is 400000000 pixels, over max_pixels" "$T/log.once"
check "... both from their headers: nothing was decoded" sh -c "! grep -q 'bomb.*pixels from' '$T/log.once'"
check "no thumbnail for the refused files" sh -c "! ls '$T/once' | grep -q 'clip\|canon\|bomb'"

# formats = jpeg: HEIC is left alone; the JPEG named .heic is still a JPEG.
printf '[drop:cam]\nsource = %s\noutput = %s\nformats = jpeg\n' "$T/cam" "$T/jpeg-only" >"$T/jpeg.conf"
"$THUMBWATCH" --config "$T/jpeg.conf" --once >/dev/null 2>"$T/log.jpeg"
check "formats = jpeg: no HEIC thumbnail" is_gone "$T/jpeg-only/item_thumbnail.heic.jpg"
check "... refused by name of format" grep -q "item.heic' failed (unsupported): not an allowed image format (heic is not in formats =)" "$T/log.jpeg"
check "... the JPEG named .heic is made" is_file "$T/jpeg-only/really-jpeg_thumbnail.heic.jpg"

# A second run finds every thumbnail current (the identity stamps of NAME.EXT.jpg work).
"$THUMBWATCH" --config "$T/once.conf" --once >"$T/log.again" 2>&1
check "a second --once makes nothing again" grep -q "made 0," "$T/log.again"

# A HEIC's ICC profile goes with its pixels, as a JPEG's does: with
# color = keep (and strip = no) it is in the thumbnail; with color = srgb
# (the default) the pixels are converted to sRGB by it and it goes.
icc=/usr/share/color/icc/compatibleWithAdobeRGB1998.icc
if [ -r "$icc" ]; then
	mkdir "$T/icc"
	gm convert -size 320x240 gradient:red-blue -profile "$icc" "$T/make/icc.png"
	heif-enc -q 60 -o "$T/icc/wide-gamut.heic" "$T/make/icc.png" >/dev/null
	printf '[drop:icc]\nsource = %s\noutput = %s\nstrip = no\ncolor = keep\n' "$T/icc" "$T/icc-keep" >"$T/icc.conf"
	printf '[drop:icc]\nsource = %s\noutput = %s\nstrip = no\n' "$T/icc" "$T/icc-srgb" >"$T/icc-srgb.conf"
	"$THUMBWATCH" --config "$T/icc.conf" --once >/dev/null 2>"$T/log.icc"
	"$THUMBWATCH" --config "$T/icc-srgb.conf" --once >/dev/null 2>>"$T/log.icc"
	has_icc() { gm identify -verbose "$1" | grep -q "Profile-.*: $(wc -c <"$icc") bytes"; }
	check "color = keep, strip = no: a HEIC's ICC profile is in its thumbnail" has_icc "$T/icc-keep/wide-gamut_thumbnail.heic.jpg"
	check "color = srgb: made" is_file "$T/icc-srgb/wide-gamut_thumbnail.heic.jpg"
	check "... without the profile" eval "! has_icc '$T/icc-srgb/wide-gamut_thumbnail.heic.jpg'"
	mae=$(gm compare -metric MAE "$T/icc-keep/wide-gamut_thumbnail.heic.jpg" "$T/icc-srgb/wide-gamut_thumbnail.heic.jpg" 2>&1 |
		awk '/Total:/ { print $2 }')
	check "... and its pixels converted: they differ from the unconverted ones (mean error ${mae:-?})" \
		awk -v m="${mae:-0}" 'BEGIN { exit !(m > 0.005) }'
else
	for k in 1 2 3 4; do ok "# SKIP no ICC profile to embed ($icc: package icc-profiles-free)"; done
fi

# job_timeout: libheif and libraw cannot be stopped mid-way; a decode that
# ran past it (the test hook makes each take 3 s) fails as a timeout.
if "$THUMBWATCH" --version | grep -q "test hooks"; then
	mkdir "$T/slow"
	cp "$T/cam/item.heic" "$T/cam/camera.dng" "$T/slow/"
	printf '[thumbwatch]\njob_timeout = 1s\n[drop:s]\nsource = %s\noutput = %s\n' "$T/slow" "$T/slow-out" >"$T/slow.conf"
	THUMBWATCH_TEST_DECODE_SLOW_MS=3000 "$THUMBWATCH" --config "$T/slow.conf" --once >/dev/null 2>"$T/log.slow"
	is "$?" 1 "libheif and libraw past job_timeout: exit 1"
	check "... the HEIC failed as a timeout" \
		grep -q "item.heic' failed (timeout): abandoned after job_timeout (1.000 s): libheif's decode ran past it" "$T/log.slow"
	check "... the RAW failed as a timeout" \
		grep -q "camera.dng' failed (timeout): abandoned after job_timeout (1.000 s): libraw ran past it" "$T/log.slow"
	check "... no thumbnail" sh -c "[ -z \"\$(ls '$T/slow-out' 2>/dev/null)\" ]"
else
	ok "# SKIP job_timeout with libheif and libraw: needs --enable-test-hooks"
fi

# The daemon: files dropped in get the same thumbnails.
mkdir "$T/live"
printf '[thumbwatch]\nlog_level = debug\ntruncated_grace = 5s\n[drop:live]\nsource = %s\noutput = %s\n' \
	"$T/live" "$T/live-out" >"$T/live.conf"
start_daemon --config "$T/live.conf"
check "the daemon starts and reports ready" wait_ready
for f in item.heic photo.avif photo.jxl camera.dng; do cp "$T/cam/$f" "$T/live/"; done
check "daemon: HEIC thumbnail" wait_for is_file "$T/live-out/item_thumbnail.heic.jpg"
check "daemon: AVIF thumbnail" wait_for is_file "$T/live-out/photo_thumbnail.avif.jpg"
check "daemon: JPEG XL thumbnail" wait_for is_file "$T/live-out/photo_thumbnail.jxl.jpg"
check "daemon: DNG thumbnail" wait_for is_file "$T/live-out/camera_thumbnail.dng.jpg"
is "$(dims "$T/live-out/item_thumbnail.heic.jpg") $(dims "$T/live-out/photo_thumbnail.avif.jpg") $(dims "$T/live-out/photo_thumbnail.jxl.jpg") $(dims "$T/live-out/camera_thumbnail.dng.jpg")" \
	"128 96 JPEG 128 96 JPEG 128 96 JPEG 96 128 JPEG" "... each of the right size"
check "... the HEIC from its thumbnail item" log_has "item.heic' -> .*pixels from heif-thumbnail"
# Written in two sessions, as a slow upload: the first close leaves a HEIC
# and a DNG cut short, which libheif and libraw say; young, they are retried.
# The DNG is cut inside its preview (a RAW cut after it has a whole preview,
# and its thumbnail is made from that, then again once the file changes).
preview_middle=$(python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); print(d.index(b"\xff\xd8\xff") + 200)' "$T/cam/camera.dng")
for f in plain.heic camera.dng; do
	size=$(wc -c <"$T/cam/$f")
	cut=$((size / 2)); [ "$f" = camera.dng ] && cut=$preview_middle
	head -c "$cut" "$T/cam/$f" >"$T/live/two-$f"
	check "a HEIC or DNG half written is taken for still arriving ($f)" \
		wait_for log_has "two-$f' looks truncated (.*), perhaps still arriving"
	tail -c +$((cut + 1)) "$T/cam/$f" >>"$T/live/two-$f"
done
check "completed: the HEIC is made" wait_for is_file "$T/live-out/two-plain_thumbnail.heic.jpg"
check "completed: the DNG is made" wait_for is_file "$T/live-out/two-camera_thumbnail.dng.jpg"
check "... neither logged as failed" sh -c "! grep -q \"two-.*' failed\" '$LOG'"
rm "$T/live/item.heic"
check "a HEIC deleted: its thumbnail goes" wait_for is_gone "$T/live-out/item_thumbnail.heic.jpg"
stop_daemon
is "$STATUS" 0 "the daemon stops cleanly"

done_testing
