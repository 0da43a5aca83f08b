#!/bin/sh
# color = srgb (the default) converts a wide-gamut JPEG's embedded ICC
# profile to sRGB: its thumbnail is within a mean CIEDE2000 of 1.0 of a
# colour-managed reference made by lcms2's jpgicc (full image to sRGB, then
# resized by gm), where the pixels left as they are (color = keep) are
# clearly off. Display P3 (made by make-icc: no package ships one), Adobe RGB
# (icc-profiles-free's compatible profile), grey (its Gray.icc) and CMYK
# (make-icc's, whose inks are not the plain formula's) JPEGs, and a 16-bit
# P3 PNG, are made at test time. color = keep
# keeps the profile; a broken profile still gives a thumbnail, with a
# warning; changing the key remakes the thumbnails, and the default's
# recipe is the one before the key existed.
. "$(dirname "$0")/lib.sh"

make_icc=$TOP_BUILDDIR/tests/e2e/make-icc
delta_e() { python3 "$TOP_SRCDIR/tests/e2e/delta-e.py" "$1" "$2" | cut -d' ' -f1; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
adobe=/usr/share/color/icc/compatibleWithAdobeRGB1998.icc
srgb=/usr/share/color/icc/sRGB.icc
grey=/usr/share/color/icc/Gray.icc

for need in "$adobe" "$srgb" "$grey" "$(command -v jpgicc)"; do
	[ -r "$need" ] || { echo "Bail out! missing ${need:-jpgicc}: run scripts/deps liblcms2-utils icc-profiles-free"; exit 1; }
done
"$make_icc" p3 "$T/p3.icc" && "$make_icc" cmyk "$T/cmyk.icc" || { echo "Bail out! make-icc failed"; exit 1; }
# Saturated hues across, dark to full above, full to pale below.
python3 "$(dirname "$0")/hues.py" "$T/src.ppm"
# The same colours in each space, with its profile embedded: gm's first
# -profile assigns sRGB, the second converts to the target and embeds it.
for s in "p3 $T/p3.icc" "adobe $adobe" "cmyk $T/cmyk.icc"; do
	set -- $s
	gm convert "$T/src.ppm" -profile "$srgb" -profile "$2" -quality 95 "$T/in/$1.jpg"
	# The reference: the full image through lcms2 to sRGB, then resized as a thumbnail.
	jpgicc -q 100 "$T/in/$1.jpg" "$T/ref-$1.jpg" >"$T/jpgicc.log" 2>&1 &&
		gm convert "$T/ref-$1.jpg" -resize 128x128 "$T/ref-$1.ppm"
done
# Grey: a grey JPEG with icc-profiles-free's Gray.icc assigned.
gm convert "$T/src.ppm" -colorspace gray -profile "$grey" -quality 95 "$T/in/grey.jpg"
jpgicc -q 100 "$T/in/grey.jpg" "$T/ref-grey.jpg" >"$T/jpgicc.log" 2>&1 && gm convert "$T/ref-grey.jpg" -resize 128x128 "$T/ref-grey.ppm"
# 16 bits a channel: a P3 PNG of 16-bit samples (its reference is the P3 JPEG's).
mkdir "$T/in16" "$T/out16"
gm convert "$T/src.ppm" -depth 16 -profile "$srgb" -profile "$T/p3.icc" "$T/in16/p3-16.png"
check "the 16-bit source has 16 bits a channel" sh -c "gm identify '$T/in16/p3-16.png' | grep -q ' 16-bit '"
check "the CMYK source is a CMYK JPEG" sh -c "gm identify -verbose '$T/in/cmyk.jpg' | grep -q 'JPEG-Colorspace-Name: CMYK'"

printf '[drop:d]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >"$T/srgb.conf"
"$THUMBWATCH" --config "$T/srgb.conf" --once >"$T/log" 2>&1
is "$?" 0 "color = srgb (default): --once exits 0"
for s in p3 adobe cmyk grey; do
	gm convert "$T/out/${s}_thumbnail.jpg" -colorspace rgb "$T/srgb-$s.ppm"
	d=$(delta_e "$T/srgb-$s.ppm" "$T/ref-$s.ppm")
	check "$s: converted to sRGB, mean dE00 $d < 1.0 against jpgicc's" below "$d" 1.0
	check "$s: the thumbnail carries no profile" sh -c "! gm identify -verbose '$T/out/${s}_thumbnail.jpg' | grep -q 'Profile-color'"
done

"$THUMBWATCH" --once "$T/in16" "$T/out16" >/dev/null 2>&1
gm convert "$T/out16/p3-16_thumbnail.png" -depth 8 "$T/srgb-p3-16.ppm"
d=$(delta_e "$T/srgb-p3-16.ppm" "$T/ref-p3.ppm")
check "16-bit P3 PNG: converted to sRGB, mean dE00 $d < 1.0" below "$d" 1.0

# color = keep: the pixels as they are, the profile kept (strip or not).
printf '[thumbwatch]\ncolor = keep\n[drop:d]\nsource = %s\noutput = %s\n' "$T/in" "$T/keep" >"$T/keep.conf"
"$THUMBWATCH" --config "$T/keep.conf" --once >"$T/log" 2>&1
is "$?" 0 "color = keep: --once exits 0"
for s in p3 adobe grey; do
	gm convert "$T/keep/${s}_thumbnail.jpg" +profile '*' -colorspace rgb "$T/keep-$s.ppm"
	d=$(delta_e "$T/keep-$s.ppm" "$T/ref-$s.ppm")
	check "$s: kept unconverted, mean dE00 $d > 1.5: the test can tell" below 1.5 "$d"
done
check "p3: the Display P3 profile is kept" sh -c "exiftool -s3 -ProfileDescription '$T/keep/p3_thumbnail.jpg' | grep -qx 'Display P3 (thumbwatch test)'"
check "adobe: the Adobe RGB profile is kept" sh -c "exiftool -s3 -ColorSpaceData '$T/keep/adobe_thumbnail.jpg' | grep -qx RGB &&
	cmp -s '$adobe' \"\$(exiftool -b -ICC_Profile '$T/keep/adobe_thumbnail.jpg' >'$T/kept.icc' && echo '$T/kept.icc')\""
# CMYK with keep is made RGB the plain way (as before color existed): its
# CMYK profile no longer describes it, so it goes, and the colours are off.
gm convert "$T/keep/cmyk_thumbnail.jpg" "$T/keep-cmyk.ppm"
d=$(delta_e "$T/keep-cmyk.ppm" "$T/ref-cmyk.ppm")
check "cmyk: made RGB without its profile, mean dE00 $d > 1.5" below 1.5 "$d"
check "cmyk: its CMYK profile is not kept on RGB pixels" sh -c "! gm identify -verbose '$T/keep/cmyk_thumbnail.jpg' | grep -q 'Profile-color'"

# A drop's own color overrides [thumbwatch]'s.
printf '[thumbwatch]\ncolor = keep\n[drop:d]\nsource = %s\noutput = %s\ncolor = srgb\n' "$T/in" "$T/over" >"$T/over.conf"
"$THUMBWATCH" --config "$T/over.conf" --once >/dev/null 2>&1
gm convert "$T/over/p3_thumbnail.jpg" "$T/over-p3.ppm"
d=$(delta_e "$T/over-p3.ppm" "$T/ref-p3.ppm")
check "[drop:d] color = srgb over [thumbwatch] color = keep: converted (dE00 $d)" below "$d" 1.0

# layout = freedesktop follows the same rule: its PNG (normal/, 128x128) is sRGB.
printf '[drop:d]\nsource = %s\noutput = %s\nlayout = freedesktop\nsizes = 128x128\nformat = png\n' "$T/in" "$T/fd" \
	>"$T/fd.conf"
"$THUMBWATCH" --config "$T/fd.conf" --once >/dev/null 2>&1
png=$(find "$T/fd/normal" -name '*.png' -exec sh -c 'gm identify -format "%wx%h" "$1" | grep -qx 128x96 &&
	exiftool -s3 -ThumbURI "$1" | grep -q "/p3.jpg$" && echo "$1"' _ {} \; | head -n 1)
if [ -n "$png" ]; then
	gm convert "$png" "$T/fd-p3.ppm"
	d=$(delta_e "$T/fd-p3.ppm" "$T/ref-p3.ppm")
	check "layout = freedesktop: p3 converted too (dE00 $d < 1.0)" below "$d" 1.0
else
	fail "layout = freedesktop: no thumbnail of p3.jpg in normal/"
fi

# The recipe: the same config again is up to date; color changed makes
# them again; the default's recipe is the one before the key existed
# (output-tree.c, pinned by test-output-tree).
"$THUMBWATCH" --config "$T/srgb.conf" --once >"$T/log" 2>&1
check "srgb again: all up to date" grep -q "made 0, up to date 4" "$T/log"
printf '[drop:d]\nsource = %s\noutput = %s\ncolor = keep\n' "$T/in" "$T/out" >"$T/tokeep.conf"
"$THUMBWATCH" --config "$T/tokeep.conf" --once >"$T/log" 2>&1
check "color changed to keep: all made again" grep -q "made 4, up to date 0" "$T/log"
check "... and now kept" sh -c "exiftool -s3 -ProfileDescription '$T/out/p3_thumbnail.jpg' | grep -qx 'Display P3 (thumbwatch test)'"

# Alpha is kept: a P3 PNG, green at opacity 0xc0 (gm's txt: shows
# opacity, 0 opaque) beside opaque red, written as PNG: the green is sRGB
# green again (unconverted it is about 117,251,76), its opacity as it was.
mkdir "$T/alpha" "$T/alphaout"
gm convert -size 128x128 'xc:#00ff00c0' -size 128x128 'xc:#ff000000' +append -profile "$srgb" -profile "$T/p3.icc" \
	"$T/alpha/alpha.png"
printf '[drop:d]\nsource = %s\noutput = %s\n' "$T/alpha" "$T/alphaout" >"$T/alpha.conf"
"$THUMBWATCH" --config "$T/alpha.conf" --once >/dev/null 2>&1
px() { gm convert "$1" -crop "1x1+$2+$3" -depth 8 txt:- | sed -n 's/.*(\([^)]*\)).*/\1/p' | tr -d ' '; }
p=$(px "$T/alphaout/alpha_thumbnail.png" 10 32)
check "alpha: the green half is sRGB green again with its opacity 192 (got $p)" \
	awk -v p="$p" 'BEGIN { split(p, c, ","); exit !(c[1] < 16 && c[2] > 240 && c[3] < 16 && c[4] == 192) }'
p=$(px "$T/alphaout/alpha_thumbnail.png" 100 32)
check "alpha: the red half is opaque sRGB red (got $p)" \
	awk -v p="$p" 'BEGIN { split(p, c, ","); exit !(c[1] > 240 && c[2] < 16 && c[3] < 16 && c[4] == 0) }'

# A broken profile: the thumbnail is made, unconverted, with a warning
# that says why. The ICC marker (APP2) is written by hand: tools refuse to
# embed what they cannot parse.
mkdir "$T/bad" "$T/badout"
python3 - "$T/in/p3.jpg" "$T/bad/broken.jpg" <<'EOF'
import sys
jpeg = open(sys.argv[1], "rb").read()
# Drop the APP2 ICC markers it has; add one whose profile is garbage with a plausible header size.
out, pos = bytearray(jpeg[:2]), 2
while jpeg[pos] == 0xFF and jpeg[pos + 1] in range(0xE0, 0xF0):
    n = int.from_bytes(jpeg[pos + 2:pos + 4], "big")
    if not (jpeg[pos + 1] == 0xE2 and jpeg[pos + 4:pos + 16] == b"ICC_PROFILE\0"):
        out += jpeg[pos:pos + 2 + n]
    pos += 2 + n
icc = (600).to_bytes(4, "big") + b"lcms" + bytes(range(256)) * 2 + b"\x00" * 80
seg = b"ICC_PROFILE\0\x01\x01" + icc
out += b"\xff\xe2" + (len(seg) + 2).to_bytes(2, "big") + seg + jpeg[pos:]
open(sys.argv[2], "wb").write(out)
EOF
printf '[drop:d]\nsource = %s\noutput = %s\n' "$T/bad" "$T/badout" >"$T/bad.conf"
"$THUMBWATCH" --config "$T/bad.conf" --once >"$T/log" 2>&1
is "$?" 0 "broken profile: --once exits 0"
check "broken profile: the thumbnail is made" is_file "$T/badout/broken_thumbnail.jpg"
check "broken profile: a warning names the file and why" grep -q "warning: .*broken.jpg.*embedded ICC profile not used, colours left as they are: ICC profile" "$T/log"
grep -q "warning: .*broken.jpg" "$T/log" || diag "$T/log"

done_testing
