#!/bin/sh
# Housekeeping never destroys what it did not make, and forgets what the
# config caused: start-up leaves users' hidden files in the output, a
# refusal caused by a limit or the formats is tried again once they change
# (--once, a restart, SIGHUP) and --explain agrees, a freedesktop failure
# marker goes when the file is made, thumbwatch's state in a private cache is
# private and named after no file, and --explain knows an output inside its
# source.
. "$(dirname "$0")/lib.sh"

# 1. Start-up removes only thumbwatch's own temporaries.
mkdir -p "$T/out/sub"
for f in .DS_Store ._photo.jpg .x.tmp .x.part .x.crdownload .photo.jpg.AbC123 sub/.hidden.jpg; do
	echo "a user's" >"$T/out/$f"
done
echo "a crash's" >"$T/out/sub/.x_thumbnail.jpg.thumbwatch-AbC123"
"$THUMBWATCH" --once "$T/in" "$T/out" >/dev/null 2>"$T/err"
check "start-up removes thumbwatch's own temporary" is_gone "$T/out/sub/.x_thumbnail.jpg.thumbwatch-AbC123"
for f in .DS_Store ._photo.jpg .x.tmp .x.part .x.crdownload .photo.jpg.AbC123 sub/.hidden.jpg; do
	check "... and leaves a user's $f" is_file "$T/out/$f"
done

# 2. Refused by the config: tried again when the config changes.
gm convert -size 400x300 xc:red "$T/in/big.jpg"
gm convert -size 40x30 xc:red "$T/in/small.bmp"
printf '[thumbwatch]\nmax_pixels = 10000\n[drop:d]\nsource = %s\noutput = %s\nformats = jpeg png\n' \
	"$T/in" "$T/out" >"$T/tw.conf"
"$THUMBWATCH" --config "$T/tw.conf" --once >"$T/o1" 2>"$T/e1"
check "over max_pixels: too-large" grep -q "big.jpg' failed (too-large)" "$T/e1"
check "a format left out: unsupported" grep -q "small.bmp' failed (unsupported)" "$T/e1"
"$THUMBWATCH" --config "$T/tw.conf" --once >"$T/o2" 2>"$T/e2"
check "under the same config both are remembered (not decoded again)" test ! -s "$T/e2"
sed -i 's/^max_pixels = 10000$/max_pixels = 1000000/; s/^formats = jpeg png$/formats = jpeg png bmp/' "$T/tw.conf"
"$THUMBWATCH" --config "$T/tw.conf" --explain "$T/in/big.jpg" >"$T/x1" 2>&1
check "--explain after the limit was raised: within the limits" grep -q "within the limits" "$T/x1"
check "... and not 'failed before ... not tried again'" sh -c "! grep -q 'not tried again' '$T/x1'"
"$THUMBWATCH" --config "$T/tw.conf" --once >"$T/o3" 2>"$T/e3"
is "$?" 0 "the limit raised and the format allowed: --once exits 0"
check "... both made" test -s "$T/out/big_thumbnail.jpg" -a -s "$T/out/small_thumbnail.bmp"

# ... and in the daemon, by SIGHUP.
rm "$T/out/big_thumbnail.jpg"
gm convert -size 401x300 xc:blue "$T/in/big.jpg"
sed -i 's/^max_pixels = 1000000$/max_pixels = 10000/' "$T/tw.conf"
start_daemon --config "$T/tw.conf"
check "daemon: over max_pixels again" wait_for log_has "big.jpg' failed (too-large)"
sed -i 's/^max_pixels = 10000$/max_pixels = 1000000/' "$T/tw.conf"
kill -HUP "$PID"
check "SIGHUP with the limit raised: made" wait_for is_file "$T/out/big_thumbnail.jpg"
stop_daemon
is "$STATUS" 0 "exit 0"

# 3. freedesktop: a stale failure marker goes when the file is made; the state is private.
mkdir "$T/fd-in" "$T/fd-in/Private album"
echo "not an image" >"$T/fd-in/Private album/secret-name.jpg"
printf '[drop:f]\nsource = %s\noutput = %s\nlayout = freedesktop\n' "$T/fd-in" "$T/cache" >"$T/fd.conf"
"$THUMBWATCH" --config "$T/fd.conf" --once >/dev/null 2>&1
check "a failure leaves the standard's marker" test "$(ls "$T/cache/fail/thumbwatch" | wc -l)" -eq 1
check "thumbwatch's state in the cache is 0700" test "$(stat -c %a "$T/cache/.thumbwatch")" = 700
check "... its failure records 0600" test "$(stat -c %a "$T/cache/.thumbwatch/failed/"* | sort -u)" = 600
check "... and named after no file of the user's" test -z "$(find "$T/cache/.thumbwatch" | grep -e Private -e secret)"
cp "$T/sample.jpg" "$T/fd-in/Private album/secret-name.jpg"
"$THUMBWATCH" --config "$T/fd.conf" --once >/dev/null 2>&1
check "repaired and made: the marker goes" test "$(ls "$T/cache/fail/thumbwatch" | wc -l)" -eq 0

# 4. --gc while the daemon makes thumbnails of files that keep arriving:
#    each source is looked at right before its thumbnail would go, so none
#    of a file that exists is removed.
mkdir "$T/race-in" "$T/race-out"
printf '[drop:r]\nsource = %s\noutput = %s\n' "$T/race-in" "$T/race-out" >"$T/race.conf"
start_daemon --config "$T/race.conf"
check "race: ready" wait_ready
(
	i=0
	while [ $i -lt 120 ]; do cp "$T/sample.jpg" "$T/race-in/.r$i.tmp" && mv "$T/race-in/.r$i.tmp" "$T/race-in/r$i.jpg"; i=$((i + 1)); done
) &
writer=$!
gcs=0
while running "$writer" || [ $gcs -lt 3 ]; do
	"$THUMBWATCH" --config "$T/race.conf" --gc >>"$T/race.gc" 2>&1
	gcs=$((gcs + 1))
done
wait "$writer"
all_race() { [ "$(find "$T/race-out" -name 'r*_thumbnail.jpg' | wc -l)" -eq 120 ]; }
check "--gc run $gcs times while 120 files arrived: every one has its thumbnail" wait_for all_race
check "... and --gc removed none" test -z "$(grep '^removed /' "$T/race.gc")"
stop_daemon

# 5. --explain on a thumbnail in an output inside the source.
mkdir "$T/in2" && cp "$T/sample.jpg" "$T/in2/x.jpg"
"$THUMBWATCH" --once "$T/in2" "$T/in2/thumbs" >/dev/null 2>&1
printf '[drop:d]\nsource = %s\noutput = %s\n' "$T/in2" "$T/in2/thumbs" >"$T/in2.conf"
"$THUMBWATCH" --config "$T/in2.conf" --explain "$T/in2/thumbs/x_thumbnail.jpg" >"$T/x2" 2>&1
check "--explain on a thumbnail in an output inside its source: says so" \
	grep -q "in the output folder of \[drop:d\] .*never scans it" "$T/x2"
check "... and does not call it a source" sh -c "! grep -q 'x_thumbnail_thumbnail' '$T/x2'"
done_testing
