#!/bin/sh
# The live daemon and folders: mkdir -p then cp in one line, a whole tree
# moved in, a folder renamed and written to, a folder moved out (its watches
# freed), and the catch-up of files that arrived while it was stopped.
. "$(dirname "$0")/lib.sh"

# Catch-up: these arrive while the daemon is not running.
mkdir -p "$T/in/before/x"
for i in 1 2 3; do cp "$T/sample.jpg" "$T/in/before/x/b$i.jpg"; done
cp "$T/sample.jpg" "$T/in/top.jpg"

start_daemon "$T/in" "$T/out"
check "ready" wait_ready
for f in before/x/b1 before/x/b2 before/x/b3 top; do
	check "catch-up: $f.jpg, there before the start, gets its thumbnail" wait_for is_file "$T/out/${f}_thumbnail.jpg"
done
check "the end of the catch-up is logged with its counts" wait_for log_has "caught up in [0-9.]* s: made 4, up to date 0, failed 0"

mkdir -p "$T/in/a/b/c" && cp "$T/sample.jpg" "$T/in/a/b/c/deep.jpg"
check "mkdir -p a/b/c && cp: the file gets its thumbnail" wait_for is_file "$T/out/a/b/c/deep_thumbnail.jpg"

mkdir -p "$T/staging/tree/one" "$T/staging/tree/two/three"
for d in one two two/three; do for i in 1 2; do cp "$T/sample.jpg" "$T/staging/tree/$d/p$i.jpg"; done; done
mv "$T/staging/tree" "$T/in/tree"
for d in one two two/three; do for i in 1 2; do
	check "tree moved in: $d/p$i.jpg" wait_for is_file "$T/out/tree/$d/p${i}_thumbnail.jpg"
done; done

mv "$T/in/tree" "$T/in/renamed"
check "renamed folder: its thumbnails move with it" wait_for is_file "$T/out/renamed/two/three/p1_thumbnail.jpg"
check "... and are gone from the old name" wait_for is_gone "$T/out/tree"
cp "$T/sample.jpg" "$T/in/renamed/two/three/after.jpg"
check "a renamed folder is still watched: a new file in it gets its thumbnail" wait_for is_file "$T/out/renamed/two/three/after_thumbnail.jpg"
cp "$T/sample.jpg" "$T/in/renamed/one/after.jpg"
check "... in every sub-folder" wait_for is_file "$T/out/renamed/one/after_thumbnail.jpg"

before=$(kernel_watches)
mv "$T/in/renamed" "$T/staging/gone"
check "a folder moved out takes its thumbnails along" wait_for is_gone "$T/out/renamed"
watches_freed() { [ "$(kernel_watches)" -eq $((before - 4)) ]; }
inotify_only "a folder moved out frees its watches" &&
	check "a folder moved out frees its watches ($before before, 4 fewer expected)" wait_for watches_freed
cp "$T/sample.jpg" "$T/staging/gone/one/outside.jpg"
cp "$T/sample.jpg" "$T/in/barrier.jpg"
check "barrier" wait_for is_file "$T/out/barrier_thumbnail.jpg"
is "$(find "$T/out" -name 'outside*' | wc -l)" 0 "files written to a moved-out folder are not ours"

rm -r "$T/in/a"
check "a deleted folder takes its thumbnails along" wait_for is_gone "$T/out/a/b/c/deep_thumbnail.jpg"

stop_daemon
is "$STATUS" 0 "SIGTERM: exit 0"

# Stopped again: a burst arrives, then SIGTERM with work queued: the queue drains.
mkdir "$T/in/later"
i=0; while [ $i -lt 60 ]; do cp "$T/sample.jpg" "$T/in/later/l$i.jpg"; i=$((i + 1)); done
start_daemon --workers 1 --queue-size 4 "$T/in" "$T/out"
check "ready again" wait_ready
stop_daemon
is "$STATUS" 0 "SIGTERM with work queued: exit 0"
is "$(temporaries "$T/out")" 0 "no temporary files left behind"
made=$(find "$T/out/later" -type f 2>/dev/null | wc -l)
check "the queued work was drained ($made made before exiting)" test "$made" -ge 1
start_daemon "$T/in" "$T/out"
all_later() { [ "$(find "$T/out/later" -type f | wc -l)" -eq 60 ]; }
check "the next start catches up on the rest" wait_for all_later

# A file deleted, or renamed, then its folder renamed, all before the
# watcher reads the events (the daemon frozen): fanotify names those events
# by the folder's path when read, the new one, before the thumbnails have
# moved there. None is left of the deleted file, the renamed one's is under
# its new name.
mkdir "$T/in/p"
cp "$T/sample.jpg" "$T/in/p/a.jpg"
cp "$T/sample.jpg" "$T/in/p/b.jpg"
cp "$T/sample.jpg" "$T/in/p/c.jpg"
check "three files in a folder p: made" wait_for is_file "$T/out/p/c_thumbnail.jpg"
wait_for is_file "$T/out/p/a_thumbnail.jpg"
kill -STOP "$PID"
rm "$T/in/p/a.jpg"
mv "$T/in/p/b.jpg" "$T/in/p/b2.jpg"
mv "$T/in/p" "$T/in/q"
kill -CONT "$PID"
thumbs_of_q() { (cd "$T/out" && find q p -name '*.jpg' 2>/dev/null | sort | tr '\n' ' '); }
settled() { [ "$(thumbs_of_q)" = "q/b2_thumbnail.jpg q/c_thumbnail.jpg " ]; }
check "a.jpg deleted, b.jpg renamed, then p renamed to q: q's thumbnails are b2's and c's only" wait_for settled
echo "#   the output holds: $(thumbs_of_q)"
stop_daemon
diag "$T/log" | grep -v ' -> ' | tail -n 15
done_testing
