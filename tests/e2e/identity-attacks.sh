#!/bin/sh
# What an adversarial pass found in the identity stamps: names that start
# with white space, a file deleted and made anew on the same inode (tar x),
# a hard-linked file rewritten through its other name, a source deleted with
# its folder while it is decoded, a settings change.
. "$(dirname "$0")/lib.sh"

px() { gm convert "$1" -crop 1x1+2+2 txt:- 2>/dev/null | sed -n 's/.*\(#[0-9A-F]\{6\}\).*/\1/p'; }

# Names that start with white space: their own stamps match them.
cp "$T/sample.jpg" "$T/in/ x.jpg"
cp "$T/sample.jpg" "$T/in/$(printf '\tx.jpg')"
cp "$T/sample.jpg" "$T/in/x.jpg"
"$THUMBWATCH" --once "$T/in" "$T/out" >"$T/o1" 2>&1
check "names starting with white space, and x.jpg: all made" grep -q "^made 3, up to date 0, failed 0" "$T/o1"
"$THUMBWATCH" --once "$T/in" "$T/out" >"$T/o2" 2>&1
check "... a second pass makes nothing (no collision with x.jpg)" grep -q "^made 0, up to date 3, failed 0" "$T/o2"
printf '[drop:d]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >"$T/tw.conf"
"$THUMBWATCH" --config "$T/tw.conf" --gc >"$T/gc" 2>&1
check "... and --gc keeps their thumbnails" grep -q "^removed 0 orphan thumbnails" "$T/gc"
check "... all three" test -s "$T/out/ x_thumbnail.jpg" -a -s "$T/out/x_thumbnail.jpg"
rm "$T/in/"*

# tar x of another version with the same size and mtime: tar unlinks and
# creates, and ext4 gives the inode number straight back.
mkdir "$T/v1" "$T/v2" "$T/tar-in" "$T/tar-out"
gm convert -size 64x48 xc:red BMP3:"$T/v1/a.bmp"
gm convert -size 64x48 xc:blue BMP3:"$T/v2/a.bmp"
touch -d @1700000000 "$T/v1/a.bmp" "$T/v2/a.bmp"
tar -C "$T/v1" -cf "$T/v1.tar" a.bmp && tar -C "$T/v2" -cf "$T/v2.tar" a.bmp
tar -C "$T/tar-in" -xf "$T/v1.tar"
"$THUMBWATCH" --once "$T/tar-in" "$T/tar-out" >/dev/null 2>&1
tar -C "$T/tar-in" -xf "$T/v2.tar"
"$THUMBWATCH" --once "$T/tar-in" "$T/tar-out" >"$T/o3" 2>&1
check "tar x of a version with the same size and mtime: made again" grep -q "^made 1," "$T/o3"
is "$(px "$T/tar-out/a_thumbnail.bmp")" "$(px "$T/tar-in/a.bmp")" "... the thumbnail shows the new version"

# The daemon: a hard-linked file rewritten through its other name; a source
# deleted with its folder while it is decoded.
THUMBWATCH_TEST_SLOW=doomed.jpg THUMBWATCH_TEST_SLOW_MS=1500 start_daemon --log-level debug "$T/in" "$T/out"
check "ready" wait_ready
gm convert -size 64x48 xc:red "$T/in/a.jpg"
check "a.jpg made" wait_for is_file "$T/out/a_thumbnail.jpg"
ln "$T/in/a.jpg" "$T/in/b.jpg"
check "its hard link b.jpg made" wait_for is_file "$T/out/b_thumbnail.jpg"
gm convert -size 100x30 xc:blue "$T/new.jpg"
cat "$T/new.jpg" >"$T/in/a.jpg"
b_new() { [ "$(dims "$T/out/b_thumbnail.jpg")" = "100 30 JPEG" ]; }
check "rewritten in place through a.jpg: b.jpg's thumbnail is made again too" wait_for b_new
mkdir "$T/in/gone"
cp "$T/sample.jpg" "$T/in/gone/first.jpg"
check "a folder, watched" wait_for is_file "$T/out/gone/first_thumbnail.jpg"
cp "$T/sample.jpg" "$T/in/gone/doomed.jpg"
inflight() { grep -qs "$1" "$T/out/.thumbwatch/inflight/worker-"*; }     # the glob read at each call
check "... a file in it is being decoded (held 1.5 s)" wait_for inflight doomed.jpg
rm -r "$T/in/gone"
check "the folder deleted meanwhile: the file went away" \
	wait_for log_has "doomed.jpg' went away while its thumbnail was made"
check "a source deleted with its folder while decoded: gone, not failed" test -z "$(grep "doomed.jpg' failed" "$LOG")"
check "... and no thumbnail left for it" is_gone "$T/out/gone/doomed_thumbnail.jpg"
cp "$T/sample.jpg" "$T/in/barrier.jpg"
check "barrier" wait_for is_file "$T/out/barrier_thumbnail.jpg"
stop_daemon
is "$STATUS" 0 "exit 0"

# A settings change remakes: the stamp carries how thumbnails are made.
printf '[drop:d]\nsource = %s\noutput = %s\nsizes = 64x64\n' "$T/in" "$T/out" >"$T/tw.conf"
"$THUMBWATCH" --config "$T/tw.conf" --once >"$T/o4" 2>&1
check "sizes changed (same names): everything is made again" grep -q "^made 3, up to date 0" "$T/o4"
is "$(dims "$T/out/barrier_thumbnail.jpg")" "64 48 JPEG" "... at the new size"
"$THUMBWATCH" --config "$T/tw.conf" --once >"$T/o5" 2>&1
check "... and then it is up to date" grep -q "^made 0, up to date 3" "$T/o5"
done_testing
