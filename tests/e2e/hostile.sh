#!/bin/sh
# A hostile drop writer: a folder swapped for a symlink while its file waits
# in the queue (no read outside the drop), a source folder named like the
# state folder, two sources for one thumbnail name, a folder renamed to an
# ignored name, names that would forge log lines.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/in/a" "$T/links/a" "$T/out-links" "$T/secret" "$T/elsewhere"
gm convert -size 77x33 xc:black "$T/secret/x.jpg"
chmod 700 "$T/secret"
cat >"$T/tw.conf" <<EOF
[thumbwatch]
workers = 1
[drop:d]
source = $T/in
output = $T/out
ignore = skip-*
[drop:links]
source = $T/links
output = $T/out-links
follow_symlinks = yes
[drop:jpeg]
source = $T/in-jpeg
output = $T/out-jpeg
format = jpeg
EOF
mkdir "$T/in-jpeg" "$T/out-jpeg"
# block.jpg holds the one worker for 3 s: what is dropped meanwhile waits in the queue.
THUMBWATCH_TEST_SLOW=block.jpg THUMBWATCH_TEST_SLOW_MS=3000 start_daemon --config "$T/tw.conf"
check "ready" wait_ready
inflight() { grep -qs "$1" "$2"/.thumbwatch/inflight/worker-*; }

# 1. A folder swapped for a symlink to a secret folder while its file waits.
for drop in in links; do
	out=out; [ $drop = links ] && out=out-links
	cp "$T/sample.jpg" "$T/$drop/block.jpg"
	wait_for inflight block.jpg "$T/$out"
	cp "$T/sample.jpg" "$T/$drop/a/x.jpg"
	mv "$T/$drop/a" "$T/$drop/a-old"
	ln -s "$T/secret" "$T/$drop/a"
	# fanotify names a file's folder when its event is read, which may be
	# after the swap: the file is then queued under its folder's new name.
	not_read() {
		log_has "'$T/$drop/a/x.jpg' is reached through a symlink: not read" ||
			{ [ "$WATCHER" = fanotify ] && is_file "$T/$out/a-old/x_thumbnail.jpg"; }
	}
	check "$drop: a folder swapped for a symlink while its file waited: the file is not read" wait_for not_read
	check "$drop: ... no thumbnail of the file outside the drop" test "$(dims "$T/$out/a/x_thumbnail.jpg")" != "77 33 JPEG"
	check "$drop: ... and none under the symlink's name at all" is_gone "$T/$out/a/x_thumbnail.jpg"
done

# 2. A source folder named like the state folder: never mirrored onto it, and
#    moving it away does not take the state (the failure memory) along.
echo "not an image" >"$T/in/poison.jpg"
check "a bad file fails" wait_for log_has "poison.jpg' failed (unsupported)"
record=$(record "$T/out" "$T/in/poison.jpg")
check "... and is remembered" test -s "$record"
mkdir "$T/in/.thumbwatch"
cp "$T/sample.jpg" "$T/in/.thumbwatch/failed.jpg"
cp "$T/sample.jpg" "$T/in/barrier1.jpg"
check "barrier" wait_for is_file "$T/out/barrier1_thumbnail.jpg"
check "a source folder named .thumbwatch at the top is not mirrored into the state folder" \
	test -z "$(find "$T/out/.thumbwatch" -name '*thumbnail*')"
mv "$T/in/.thumbwatch" "$T/elsewhere/"
cp "$T/sample.jpg" "$T/in/barrier2.jpg"
check "barrier" wait_for is_file "$T/out/barrier2_thumbnail.jpg"
check "moving it out of the drop leaves the state folder" test -d "$T/out/.thumbwatch"
check "... and the failure memory" test -s "$record"
"$THUMBWATCH" --config "$T/tw.conf" --explain "$T/in/.thumbwatch/x.jpg" >"$T/explain" 2>&1
check "--explain says the name is kept for the state" grep -q "a name thumbwatch keeps for its state" "$T/explain"

# 3. Two sources, one thumbnail name (format = jpeg): never an overwrite, never
#    a removal of the other's; the other gets it once the first is gone.
gm convert -size 90x60 xc:red "$T/a.jpg"
gm convert -size 60x90 xc:blue "$T/a.png"
cp "$T/a.jpg" "$T/in-jpeg/a.jpg"
check "a.jpg's thumbnail" wait_for is_file "$T/out-jpeg/a_thumbnail.jpg"
cp "$T/a.png" "$T/in-jpeg/a.png"
check "a.png gives the same name: a collision, logged" wait_for log_has "in-jpeg/a.png': its thumbnail .* is the thumbnail of .*a.jpg"
is "$(dims "$T/out-jpeg/a_thumbnail.jpg")" "90 60 JPEG" "... a.jpg's thumbnail is not overwritten"
rm "$T/in-jpeg/a.png"
cp "$T/sample.jpg" "$T/in-jpeg/barrier.jpg"
check "barrier" wait_for is_file "$T/out-jpeg/barrier_thumbnail.jpg"
is "$(dims "$T/out-jpeg/a_thumbnail.jpg")" "90 60 JPEG" "deleting a.png does not remove a.jpg's thumbnail"
cp "$T/a.png" "$T/in-jpeg/a.png"
rm "$T/in-jpeg/a.jpg"
is_png_thumb() { [ "$(dims "$T/out-jpeg/a_thumbnail.jpg")" = "60 90 JPEG" ]; }
check "a.jpg gone: a.png gets the name" wait_for is_png_thumb

# 4. A folder renamed to a name the drop ignores: gone from the drop, as one
#    made with that name is.
mkdir "$T/in/album"
cp "$T/sample.jpg" "$T/in/album/one.jpg"
check "a folder's file" wait_for is_file "$T/out/album/one_thumbnail.jpg"
mv "$T/in/album" "$T/in/skip-album"
check "renamed to an ignored name: its thumbnails go" wait_for is_gone "$T/out/album/one_thumbnail.jpg"
cp "$T/sample.jpg" "$T/in/skip-album/two.jpg"
cp "$T/sample.jpg" "$T/in/barrier3.jpg"
check "barrier" wait_for is_file "$T/out/barrier3_thumbnail.jpg"
check "... a file dropped into it is left alone" test -z "$(find "$T/out" -name 'two_thumbnail.jpg')"
check "... and nothing is mirrored under the ignored name" is_gone "$T/out/skip-album"
"$THUMBWATCH" --config "$T/tw.conf" --explain "$T/in/skip-album/two.jpg" >"$T/explain2" 2>&1
check "... --explain says why" grep -q "skipped: a folder above it matches ignore = skip-\*" "$T/explain2"

# 5. Names that would forge log lines, and names that are not UTF-8.
forged=$(printf 'y\nthumbwatch: stopped: made 0, failed 0.jpg')
echo "not an image" >"$T/in/$forged"
latin1=$(printf 'caf\351.jpg')
echo "not an image" >"$T/in/$latin1"
check "a name with a newline fails, escaped in the log" wait_for log_has 'y\\nthumbwatch: stopped: made 0, failed 0.jpg'\'' failed'
check "a name that is not UTF-8 fails, escaped in the log" wait_for log_has 'caf\\xe9.jpg'\'' failed'
check "no forged line" test -z "$(grep '^thumbwatch: stopped:' "$LOG")"
stop_daemon
is "$STATUS" 0 "exit 0"
is "$(grep -c '^thumbwatch: stopped:' "$LOG")" 1 "one 'stopped' line: the real one"
done_testing
