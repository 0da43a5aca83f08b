#!/bin/sh
# A source that is missing at start, or vanishes: logged, retried, re-armed
# with a catch-up scan when it comes back; the other drops keep working.
. "$(dirname "$0")/lib.sh"

printf '[drop:here]\nsource = %s\noutput = %s\n[drop:later]\nsource = %s\noutput = %s\n' \
	"$T/in" "$T/out" "$T/later" "$T/out-later" >"$T/tw.conf"
start_daemon --config "$T/tw.conf"
check "ready with one source missing" wait_ready
check "the missing source is logged with its drop and reason" log_has "source '$T/later' of \[drop:later\] is not available, retrying: No such file or directory"
cp "$T/sample.jpg" "$T/in/a.jpg"
check "the other drop works" wait_for is_file "$T/out/a_thumbnail.jpg"

mkdir "$T/later"
cp "$T/sample.jpg" "$T/later/early.jpg"
check "the source appears: it is watched and caught up" wait_for is_file "$T/out-later/early_thumbnail.jpg"
check "... and its return is logged" log_has "source '$T/later' is back"
cp "$T/sample.jpg" "$T/later/watched.jpg"
check "... and new files in it are made" wait_for is_file "$T/out-later/watched_thumbnail.jpg"

rm -rf "$T/later"
check "the source is deleted: logged" wait_for log_has "source '$T/later' is gone"
cp "$T/sample.jpg" "$T/in/b.jpg"
check "the other drop keeps working" wait_for is_file "$T/out/b_thumbnail.jpg"
mkdir "$T/later"
cp "$T/sample.jpg" "$T/later/again.jpg"
check "it comes back: re-armed and caught up" wait_for is_file "$T/out-later/again_thumbnail.jpg"

mv "$T/later" "$T/later.moved"
check "the source is renamed away: logged" wait_for sh -c "[ \$(grep -c \"source '$T/later' is gone\" '$LOG') -ge 2 ]"
cp "$T/sample.jpg" "$T/later.moved/not-ours.jpg"
cp "$T/sample.jpg" "$T/in/c.jpg"
check "barrier" wait_for is_file "$T/out/c_thumbnail.jpg"
is "$(find "$T/out-later" -name 'not-ours*' | wc -l)" 0 "files in the renamed-away folder are not ours"

stop_daemon
is "$STATUS" 0 "exit 0"

# A source that is a symlink to its folder (/srv/drop -> /mnt/disk/drop) is
# followed; symlinked folders below it are not.
mkdir -p "$T/real/sub" "$T/elsewhere" "$T/out-link"
cp "$T/sample.jpg" "$T/real/before.jpg"
cp "$T/sample.jpg" "$T/elsewhere/outside.jpg"
ln -s "$T/real" "$T/link"
ln -s "$T/elsewhere" "$T/real/sub/away"
"$THUMBWATCH" --once "$T/link" "$T/out-link" >/dev/null 2>"$T/once-link.err"
is "$?" 0 "--once through a symlinked source: exit 0"
check "... its files are made" is_file "$T/out-link/before_thumbnail.jpg"
is "$(find "$T/out-link" -name 'outside*' | wc -l)" 0 "... a symlinked folder below it is not followed"
rm -rf "$T/out-link"/*
start_daemon "$T/link" "$T/out-link"
check "the daemon watches a symlinked source" wait_ready
check "... catches it up" wait_for is_file "$T/out-link/before_thumbnail.jpg"
cp "$T/sample.jpg" "$T/real/sub/new.jpg"
check "... and makes what is dropped into it" wait_for is_file "$T/out-link/sub/new_thumbnail.jpg"
is "$(find "$T/out-link" -name 'outside*' | wc -l)" 0 "... but does not follow a symlinked folder below it"
stop_daemon
is "$STATUS" 0 "exit 0"
done_testing
