#!/bin/sh
# A progressive JPEG whose thumbnail needs 1/8 of it or less is decoded from
# its DC scan: --once at --log-level debug says "pixels from jpeg-dc-scan";
# a baseline JPEG still says "pixels from decode", and a progressive JPEG cut
# short still fails as truncated.
. "$(dirname "$0")/lib.sh"

gm convert -size 2048x1536 plasma: "$T/photo.png"
gm convert "$T/photo.png" -quality 90 -interlace Line "$T/in/progressive.jpg"
gm convert "$T/photo.png" -quality 90 "$T/in/baseline.jpg"
mkdir "$T/cut"
head -c $(($(stat -c %s "$T/in/progressive.jpg") / 2)) "$T/in/progressive.jpg" >"$T/cut/half.jpg"

"$THUMBWATCH" --once --log-level debug "$T/in" "$T/out" 2>"$T/once.err"
is "$?" 0 "--once on a progressive and a baseline JPEG: exit 0"
check "the progressive JPEG: pixels from jpeg-dc-scan" \
	grep -q "progressive.jpg' -> .*pixels from jpeg-dc-scan" "$T/once.err"
check "the baseline JPEG: pixels from decode" grep -q "baseline.jpg' -> .*pixels from decode)" "$T/once.err"
is "$(dims "$T/out/progressive_thumbnail.jpg")" "128 96 JPEG" "... the progressive JPEG's thumbnail: 128x96"
[ "$failed" -eq 0 ] || diag "$T/once.err"

"$THUMBWATCH" --once --log-level debug "$T/cut" "$T/out-cut" 2>"$T/cut.err"
is "$?" 1 "--once on a progressive JPEG cut in half: exit 1"
check "... failed as truncated" grep -q "half.jpg' failed (truncated)" "$T/cut.err"
check "... and no thumbnail" is_gone "$T/out-cut/half_thumbnail.jpg"
done_testing
