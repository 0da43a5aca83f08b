#!/bin/sh
# color = srgb converts a HEIC's or an AVIF's nclx colour description
# (primaries and transfer as ISO/IEC 23091-2 code points, no ICC profile) to
# sRGB: a Display P3 HEIC (nclx 12/13/6, also through its thumbnail item,
# which has the primary's colours) and AVIF are within a mean CIEDE2000 of
# 1.0 of a colour-managed reference made by lcms2's jpgicc, where the
# pixels left as they are (color = keep, the profile made for the nclx
# removed) are clearly off. color = keep attaches that profile. A HEIC with
# an ICC profile and an nclx box is converted by the ICC profile. HDR (PQ)
# is left as it is, with a warning. The files are made at test time: avifenc
# writes nclx; heif-enc 1.15 writes none to a HEIC, so heif-nclx.py adds it.
. "$(dirname "$0")/lib.sh"

for tool in heif-enc avifenc jpgicc python3 exiftool; do
	command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool is not installed (scripts/deps, scripts/test)"; exit 0; }
done
"$THUMBWATCH" --version | grep -q '+heif' || { echo "1..0 # SKIP built --without-heif"; exit 0; }
srgb=/usr/share/color/icc/sRGB.icc
[ -r "$srgb" ] || { echo "Bail out! missing $srgb: run scripts/deps icc-profiles-free"; exit 1; }

make_icc=$TOP_BUILDDIR/tests/e2e/make-icc
add_nclx() { python3 "$TOP_SRCDIR/tests/e2e/heif-nclx.py" "$@"; }
delta_e() { python3 "$TOP_SRCDIR/tests/e2e/delta-e.py" "$1" "$2" | cut -d' ' -f1; }
below() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
thumb() { echo "$1/${2%.*}_thumbnail.${2##*.}.jpg"; }
nclx_of() { python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); i = d.find(b"colrnclx");
print("none" if i < 0 else "%d/%d/%d" % (int.from_bytes(d[i + 8:i + 10], "big"), int.from_bytes(d[i + 10:i + 12], "big"),
	int.from_bytes(d[i + 12:i + 14], "big")))' "$1"; }

"$make_icc" p3 "$T/p3.icc" || { echo "Bail out! make-icc failed"; exit 1; }
# Saturated hues across, dark to full above, full to pale below.
python3 "$(dirname "$0")/hues.py" "$T/src.ppm"
# The colours in Display P3, as a JPEG with its profile; the reference is
# that JPEG through lcms2 to sRGB, then resized as a thumbnail. The HEIFs
# are made of the same P3 numbers without the profile (p3.png).
mkdir "$T/make"
gm convert "$T/src.ppm" -profile "$srgb" -profile "$T/p3.icc" -quality 95 "$T/make/p3.jpg"
jpgicc -q 100 "$T/make/p3.jpg" "$T/ref.jpg" >"$T/jpgicc.log" 2>&1 && gm convert "$T/ref.jpg" -resize 128x128 "$T/ref.ppm"
gm convert "$T/make/p3.jpg" +profile '*' "$T/make/p3.png"
gm convert "$T/make/p3.png" -profile "$T/p3.icc" "$T/make/p3-icc.png"

heif-enc -q 90 -o "$T/make/p3.heic" "$T/make/p3.png" >/dev/null
heif-enc -q 90 --thumb 320 -o "$T/make/p3-item.heic" "$T/make/p3.png" >/dev/null
heif-enc -q 90 -o "$T/make/icc.heic" "$T/make/p3-icc.png" >/dev/null
add_nclx "$T/make/p3.heic" "$T/in/p3.heic" 12 13 6
add_nclx "$T/make/p3-item.heic" "$T/in/p3-item.heic" 12 13 6
# An ICC profile (P3) and an nclx that says sRGB: the profile must win.
add_nclx "$T/make/icc.heic" "$T/in/both.heic" 1 13 6
avifenc -s 8 --min 0 --max 10 --cicp 12/13/6 "$T/make/p3.png" "$T/in/p3.avif" >/dev/null
# HDR: BT.2020 primaries with PQ.
add_nclx "$T/make/p3.heic" "$T/in/pq.heic" 9 16 9
for f in p3.heic p3-item.heic p3.avif; do
	got=$(nclx_of "$T/in/$f")
	is "$got" "12/13/6" "$f is nclx 12/13/6 (Display P3)"
done
check "both.heic has an ICC profile and an nclx box" sh -c "exiftool -s3 -ProfileDescription '$T/in/both.heic' | grep -qx 'Display P3 (thumbwatch test)' &&
	[ \"\$(python3 -c 'import sys; print(open(sys.argv[1], \"rb\").read().count(b\"colrnclx\"))' '$T/in/both.heic')\" = 1 ]"
check "p3.heic has no ICC profile" sh -c "! exiftool -s3 -ProfileDescription '$T/in/p3.heic' | grep -q ."

printf '[drop:d]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >"$T/srgb.conf"
"$THUMBWATCH" --config "$T/srgb.conf" --once --log-level debug >"$T/log" 2>&1
is "$?" 0 "color = srgb: --once exits 0"
check "p3-item.heic: its thumbnail item is decoded" grep -q "p3-item.heic' -> .*pixels from heif-thumbnail" "$T/log"
check "p3.heic: its primary image is decoded" grep -q "p3.heic' -> .*pixels from heif-primary" "$T/log"
for f in p3.heic p3-item.heic p3.avif both.heic; do
	out=$(thumb "$T/out" "$f")
	gm convert "$out" -colorspace rgb "$T/srgb-$f.ppm"
	d=$(delta_e "$T/srgb-$f.ppm" "$T/ref.ppm")
	check "$f: converted to sRGB, mean dE00 $d < 1.0 against jpgicc's" below "$d" 1.0
	check "$f: the thumbnail carries no profile" sh -c "[ -s '$out' ] && ! gm identify -verbose '$out' | grep -q 'Profile-color'"
done
check "p3.heic: no warning" sh -c "! grep -q \"warning: .*/p3.heic'\" '$T/log'"
check "pq.heic (HDR): the thumbnail is made" is_file "$T/out/pq_thumbnail.heic.jpg"
check "pq.heic: a warning says PQ is HDR, not converted" \
	grep -q "warning: .*pq.heic' .*nclx colour description not used, colours left as they are: nclx transfer characteristics 16 (PQ) is HDR, not converted" "$T/log"

# color = keep: the pixels as they are, with the profile made for the nclx
# (so that viewers that manage colour show them right); both.heic keeps its
# own; pq.heic gets none, and no warning (nothing was to be converted).
printf '[thumbwatch]\ncolor = keep\n[drop:d]\nsource = %s\noutput = %s\n' "$T/in" "$T/keep" >"$T/keep.conf"
"$THUMBWATCH" --config "$T/keep.conf" --once >"$T/log.keep" 2>&1
is "$?" 0 "color = keep: --once exits 0"
for f in p3.heic p3-item.heic p3.avif; do
	out=$(thumb "$T/keep" "$f")
	gm convert "$out" +profile '*' -colorspace rgb "$T/keep-$f.ppm"
	d=$(delta_e "$T/keep-$f.ppm" "$T/ref.ppm")
	check "$f: kept unconverted, mean dE00 $d > 1.5: the test can tell" below 1.5 "$d"
	check "$f: the profile made for its nclx is in the thumbnail" \
		sh -c "exiftool -s3 -ProfileDescription '$out' | grep -qx 'Display P3, sRGB curve (from nclx)'"
done
# What a viewer that manages colour shows: the kept thumbnail through its profile.
jpgicc -q 100 "$T/keep/p3_thumbnail.heic.jpg" "$T/keep-viewed.jpg" >"$T/jpgicc.log" 2>&1
gm convert "$T/keep-viewed.jpg" -colorspace rgb "$T/keep-viewed.ppm"
d=$(delta_e "$T/keep-viewed.ppm" "$T/ref.ppm")
check "p3.heic kept, shown through its profile by jpgicc: mean dE00 $d < 1.0" below "$d" 1.0
check "both.heic: its own ICC profile is kept" \
	sh -c "exiftool -s3 -ProfileDescription '$T/keep/both_thumbnail.heic.jpg' | grep -qx 'Display P3 (thumbwatch test)'"
check "pq.heic: no profile is kept" sh -c "[ -s '$T/keep/pq_thumbnail.heic.jpg' ] && ! gm identify -verbose '$T/keep/pq_thumbnail.heic.jpg' | grep -q 'Profile-color'"
check "pq.heic: no warning with color = keep" sh -c "! grep -q 'warning: .*pq.heic' '$T/log.keep'"

done_testing
