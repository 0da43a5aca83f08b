#!/bin/sh
# The live daemon and single files: copied in, written slowly, renamed from a
# temporary name, deleted; an output folder inside the source.
. "$(dirname "$0")/lib.sh"

mkdir "$T/in/thumbs"
start_daemon --log-level debug "$T/in" "$T/in/thumbs"
check "the daemon starts and reports ready" wait_ready

cp "$T/sample.jpg" "$T/in/copied.jpg"
check "a file copied in gets its thumbnail" wait_for is_file "$T/in/thumbs/copied_thumbnail.jpg"
is "$(dims "$T/in/thumbs/copied_thumbnail.jpg")" "128 96 JPEG" "... of the right size"

# A slow writer: half the file, a pause, the rest. While it pauses, another
# file goes all the way through: a barrier, not a fixed sleep.
size=$(wc -c <"$T/sample.jpg")
half=$((size / 2))
exec 3>"$T/in/slow.jpg"
head -c "$half" "$T/sample.jpg" >&3
cp "$T/sample.jpg" "$T/in/barrier1.jpg"
check "barrier file made while slow.jpg is half written" wait_for is_file "$T/in/thumbs/barrier1_thumbnail.jpg"
check "no thumbnail from a half-written file" is_gone "$T/in/thumbs/slow_thumbnail.jpg"
tail -c +"$((half + 1))" "$T/sample.jpg" >&3
exec 3>&-
check "the slow file gets its thumbnail once closed" wait_for is_file "$T/in/thumbs/slow_thumbnail.jpg"
is "$(dims "$T/in/thumbs/slow_thumbnail.jpg")" "128 96 JPEG" "... made from the complete file"
check "no failure was logged for the slow file" test -z "$(grep 'slow.jpg.*failed' "$LOG")"

# A download's temporary name, then a rename into place.
cp "$T/sample.jpg" "$T/in/photo.jpg.part"
cp "$T/sample.jpg" "$T/in/.photo2.jpg.a1B2c3"
cp "$T/sample.jpg" "$T/in/barrier2.jpg"
check "barrier file made" wait_for is_file "$T/in/thumbs/barrier2_thumbnail.jpg"
is "$(find "$T/in/thumbs" -name '*part*' -o -name '.photo2*' | wc -l)" 0 "temporary names get no thumbnail"
mv "$T/in/photo.jpg.part" "$T/in/photo.jpg"
mv "$T/in/.photo2.jpg.a1B2c3" "$T/in/photo2.jpg"
check "renamed from .part: thumbnail made" wait_for is_file "$T/in/thumbs/photo_thumbnail.jpg"
check "renamed from an rsync temporary: thumbnail made" wait_for is_file "$T/in/thumbs/photo2_thumbnail.jpg"

# Changed in place: made again.
gm convert -size 100x100 xc:green "$T/in/new-content.jpg"
mv "$T/in/new-content.jpg" "$T/in/copied.jpg"
check "a replaced file is made again" wait_for sh -c "[ \"\$(gm identify -format '%w %h' '$T/in/thumbs/copied_thumbnail.jpg')\" = '100 100' ]"

# Deleted: its thumbnail goes too.
rm "$T/in/barrier1.jpg"
check "a deleted source takes its thumbnail along" wait_for is_gone "$T/in/thumbs/barrier1_thumbnail.jpg"
mkdir "$T/elsewhere"
mv "$T/in/barrier2.jpg" "$T/elsewhere/"
check "a source moved out takes its thumbnail along" wait_for is_gone "$T/in/thumbs/barrier2_thumbnail.jpg"

# Not an image: left alone.
echo text >"$T/in/notes.txt"
cp "$T/sample.jpg" "$T/in/barrier3.jpg"
check "barrier file made" wait_for is_file "$T/in/thumbs/barrier3_thumbnail.jpg"
is "$(find "$T/in/thumbs" -name 'notes*' | wc -l)" 0 "non-images get nothing"

is "$(find "$T/in/thumbs" -name '*_thumbnail_thumbnail*' | wc -l)" 0 "output inside the source: no thumbnail of a thumbnail"
check "output inside the source: never logged as a source" test -z "$(grep "'$T/in/thumbs/[^']*' ->" "$LOG")"

stop_daemon
is "$STATUS" 0 "SIGTERM: exit 0"
is "$(temporaries "$T/in/thumbs")" 0 "no temporary files left"
check "the log says it stopped" log_has "stopped:"
diag "$T/log" | tail -n 20
done_testing
