#!/bin/sh
# A folder made under a name another folder had: renamed away, or deleted.
# libinotifytools keeps its entry under the old name (the watcher never
# renames its entries: that walks every watch), so the new watch is not
# filed under its name there; the watcher finds its wd all the same, and
# the new folder is watched: a file written into it after its catch-up
# gets its thumbnail, and each folder has one watch.
. "$(dirname "$0")/lib.sh"

start_daemon --log-level debug "$T/in" "$T/out"
check "ready" wait_ready
# watched_as NAME N: the N-th watch of $T/in/NAME was added with a wd.
watched_as() { [ "$(grep -c "watching '$T/in/$1' (wd [0-9]" "$LOG")" -ge "$2" ]; }
folders() { find "$T/in" -type d | wc -l; }
one_each() { [ "$(kernel_watches)" -eq "$(folders)" ]; }

mkdir "$T/in/a"
check "a folder is watched" wait_for watched_as a 1
mv "$T/in/a" "$T/in/b"
check "renamed: its watch follows" wait_for log_has "event MOVED_TO,ISDIR on '$T/in/b'"
mkdir "$T/in/a"
check "a new folder under the renamed one's old name is watched, with its own wd" wait_for watched_as a 2
check "... one watch per folder" wait_for one_each
rmdir "$T/in/a"
check "deleted" wait_for log_has "event DELETE,ISDIR on '$T/in/a'"
mkdir "$T/in/a"
check "a new folder under the deleted one's name is watched, with its own wd" wait_for watched_as a 3
check "... one watch per folder" wait_for one_each
is "$(grep -c "watching '$T/in/a' (wd -" "$LOG")" 0 "no watch was left without its wd"
# The folder's own catch-up scan is done once its (empty) scan is logged;
# a file written after that is seen only through the new watch.
scanned_a() { [ "$(grep -c "scanned '$T/in/a'" "$LOG")" -ge 3 ]; }
check "barrier" wait_for scanned_a
cp "$T/sample.jpg" "$T/in/a/x.jpg"
check "a file written into it gets its thumbnail" wait_for is_file "$T/out/a/x_thumbnail.jpg"
cp "$T/sample.jpg" "$T/in/b/y.jpg"
check "... and one written into the renamed folder" wait_for is_file "$T/out/b/y_thumbnail.jpg"
stop_daemon
is "$STATUS" 0 "exit 0"
done_testing
