#!/bin/sh
# Events are hints, the tree is the truth, for deletions too: what was
# deleted while the daemon was stopped, during a reload or in folders no
# watch covers loses its thumbnails and its failure records at the next
# root scan; a source that looks emptied (a disk not mounted) is left alone.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/in/sub"
for f in a b sub/c sub/d; do cp "$T/sample.jpg" "$T/in/$f.jpg"; done
echo "not an image" >"$T/in/bad.jpg"
printf 'not thumbwatch'"'"'s\n' >"$T/out/notes.txt"
printf '[thumbwatch]\nlog_level = info\n[drop:d]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >"$T/tw.conf"
start_daemon --config "$T/tw.conf"
check "caught up" wait_for log_has "caught up in"
check "thumbnails made" wait_for is_file "$T/out/sub/d_thumbnail.jpg"
record=$(record "$T/out" "$T/in/bad.jpg")
check "the bad file's failure is recorded" test -s "$record"
stop_daemon

# Deleted while the daemon was stopped.
rm "$T/in/b.jpg" "$T/in/bad.jpg"
rm -r "$T/in/sub"
start_daemon --config "$T/tw.conf"
check "restarted: the catch-up removes the thumbnail of a file deleted meanwhile" wait_for is_gone "$T/out/b_thumbnail.jpg"
check "... and of a folder deleted meanwhile, with its folder" wait_for is_gone "$T/out/sub"
check "... says so" wait_for log_has "removed 3 thumbnails and 1 folders of sources that are gone"
check "... the failure record of the deleted bad file goes" is_gone "$record"
check "... the other thumbnails stay" is_file "$T/out/a_thumbnail.jpg"
check "... and a file thumbwatch did not make stays" is_file "$T/out/notes.txt"

# The output folder removed under the daemon (an admin's rm -rf): made again.
rm -rf "$T/out"
cp "$T/sample.jpg" "$T/in/f.jpg"
check "the output folder removed: made again for the next thumbnail" wait_for is_file "$T/out/f_thumbnail.jpg"
check "... and said so" log_has "output folder '$T/out' was gone: made it again, and catching up"
check "... and the thumbnails that went with it are made again" wait_for is_file "$T/out/a_thumbnail.jpg"
printf 'not thumbwatch'"'"'s\n' >"$T/out/notes.txt"

# Deleted during a reload (between the old watcher and the new).
cp "$T/sample.jpg" "$T/in/e.jpg"
check "e.jpg made" wait_for is_file "$T/out/e_thumbnail.jpg"
kill -STOP "$PID"
kill -HUP "$PID"
rm "$T/in/e.jpg"
kill -CONT "$PID"
check "deleted during a reload: its thumbnail goes" wait_for is_gone "$T/out/e_thumbnail.jpg"
stop_daemon
is "$STATUS" 0 "exit 0"

# A source that looks emptied: every image gone at once, thumbnails there.
mv "$T/in" "$T/in.away"
mkdir "$T/in"
start_daemon --config "$T/tw.conf"
check "a source with no images, but thumbnails of it: warned" \
	wait_for log_has "source '$T/in' has no images, but '$T/out' holds [0-9]* thumbnails of them: not removing them"
check "... and they stay" is_file "$T/out/a_thumbnail.jpg"
stop_daemon
"$THUMBWATCH" --config "$T/tw.conf" --gc >"$T/gc" 2>&1
check "--gc removes them" grep -q "^removed $T/out/a_thumbnail.jpg$" "$T/gc"
check "... and keeps what thumbwatch did not make" grep -q "^kept $T/out/notes.txt: not made by thumbwatch$" "$T/gc"
done_testing
