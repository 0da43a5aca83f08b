#!/bin/sh
# Every way a complete file can arrive ends in a thumbnail while the daemon
# runs: into the top folder of a source that is a symlink to its folder, as
# a hard link (ln, cp -l: IN_CREATE only), linked in from an O_TMPFILE (no
# close after the name), with its mtime set after its data; and into folders
# the watch limit left unwatched (rescanned on a timer, watched once the
# limit allows).
. "$(dirname "$0")/lib.sh"

# A source that is a symlink to its folder, with no sub-folder at all.
mkdir "$T/real" "$T/out-link"
ln -s "$T/real" "$T/link"
start_daemon "$T/link" "$T/out-link"
check "a symlinked source with no sub-folder: ready" wait_ready
check "... and watched, not 'not available'" test -z "$(grep 'not available' "$LOG")"
cp "$T/sample.jpg" "$T/real/top.jpg"
check "a file dropped into its top folder gets its thumbnail" wait_for is_file "$T/out-link/top_thumbnail.jpg"
mkdir "$T/real/sub"
cp "$T/sample.jpg" "$T/real/sub/deeper.jpg"
check "... and one in a folder made since" wait_for is_file "$T/out-link/sub/deeper_thumbnail.jpg"
cp "$T/sample.jpg" "$T/real/top2.jpg"
check "... and the top folder still works with a sub-folder there" wait_for is_file "$T/out-link/top2_thumbnail.jpg"
stop_daemon
is "$STATUS" 0 "exit 0"

# Hard links, O_TMPFILE, attributes.
mkdir "$T/elsewhere"
start_daemon "$T/in" "$T/out"
check "ready" wait_ready
gm convert -size 90x60 xc:red "$T/elsewhere/linked.jpg"
ln "$T/elsewhere/linked.jpg" "$T/in/linked.jpg"
check "a file hard-linked in (ln) gets its thumbnail" wait_for is_file "$T/out/linked_thumbnail.jpg"
is "$(dims "$T/out/linked_thumbnail.jpg")" "90 60 JPEG" "... of that file"
gm convert -size 60x90 xc:blue "$T/elsewhere/copied.jpg"
cp -l "$T/elsewhere/copied.jpg" "$T/in/copied.jpg"
check "a file linked in with cp -l gets its thumbnail" wait_for is_file "$T/out/copied_thumbnail.jpg"
ln "$T/in/linked.jpg" "$T/in/second-name.jpg"
check "a second name of a file in the drop gets its thumbnail" wait_for is_file "$T/out/second-name_thumbnail.jpg"
if command -v python3 >/dev/null; then
	python3 - "$T/in" "$T/in/tmpfile.jpg" "$T/sample.jpg" <<'PY'
import ctypes, os, sys
folder, name, data = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()
fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o644)
os.write(fd, data)
# A name for a complete file, by linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd
# (os.link() would link the magic link itself); the close comes later.
libc = ctypes.CDLL(None, use_errno=True)
if libc.linkat(-100, b"/proc/self/fd/%d" % fd, -100, os.fsencode(name), 0x400) != 0:
    sys.exit("linkat: " + os.strerror(ctypes.get_errno()))
os.close(fd)
PY
	check "a file linked in from O_TMPFILE gets its thumbnail" wait_for is_file "$T/out/tmpfile_thumbnail.jpg"
else
	fail "python3 makes an O_TMPFILE file"
fi
# The mtime set after the data (rsync --inplace does this): the thumbnail
# stamped with the first mtime is stale until the attribute change is seen.
cp "$T/sample.jpg" "$T/in/inplace.jpg"
check "a file written in place" wait_for is_file "$T/out/inplace_thumbnail.jpg"
touch -d '2020-02-02' "$T/in/inplace.jpg"
stamped_2020() { getfattr_stamp "$T/out/inplace_thumbnail.jpg" | grep -q " $(stat -c %Y "$T/in/inplace.jpg")\."; }
getfattr_stamp() { python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.thumbwatch").decode())' "$1" 2>/dev/null; }
check "... its mtime set afterwards: made again with the new identity" wait_for stamped_2020
stop_daemon
is "$STATUS" 0 "exit 0"
"$THUMBWATCH" --once "$T/in" "$T/out" >"$T/once.out" 2>&1
check "then --once finds everything up to date" grep -q "^made 0, up to date 5, failed 0" "$T/once.out"

# Folders past the watch limit: rescanned every rescan_unwatched, and watched
# once the limit allows. The limit is that of a user namespace of the
# test's own, raised from inside it when the test says so.
if [ "$WATCHER" = fanotify ]; then
	echo "# watcher = fanotify has no watch limit: the watch limit part is not run"
elif unshare --user --map-root-user sh -c 'echo 4 >/proc/sys/user/max_inotify_watches' 2>/dev/null; then
	mkdir -p "$T/lim/a/a1" "$T/lim/a/a2" "$T/lim/b/b1" "$T/lim/b/b2" "$T/lim/c"
	printf '[thumbwatch]\nrescan_unwatched = 1s\n' >"$T/lim.conf"
	LOG=$T/log.limit
	unshare --user --map-root-user sh -c '
		echo 4 >/proc/sys/user/max_inotify_watches || exit 3
		"$0" --config "$1" "$2" "$3" 2>"$4" &
		echo $! >"$5"
		while [ ! -e "$6" ]; do sleep 0.05; done
		echo 100000 >/proc/sys/user/max_inotify_watches
		wait' "$THUMBWATCH" "$T/lim.conf" "$T/lim" "$T/lim-out" "$LOG" "$T/lim.pid" "$T/raise" &
	NS=$!
	wait_for test -s "$T/lim.pid"
	PID=$(cat "$T/lim.pid")
	check "ready with 4 watches for 8 folders" wait_ready
	check "the limit is named, with the rescan" log_has "watch limit reached: .* (they are rescanned every 1 s"
	unwatched=$(sed -n "s/.*watch limit reached: '\([^']*\)'.*/\1/p" "$LOG" | head -n 1)
	check "... naming a folder" test -d "$unwatched"
	rel=${unwatched#"$T/lim"}
	cp "$T/sample.jpg" "$unwatched/late.jpg"
	check "a file dropped into an unwatched folder is found by the rescan" \
		wait_for is_file "$T/lim-out$rel/late_thumbnail.jpg"
	rm "$unwatched/late.jpg"
	check "a file deleted from an unwatched folder loses its thumbnail at the rescan" \
		wait_for is_gone "$T/lim-out$rel/late_thumbnail.jpg"
	touch "$T/raise"
	check "the limit raised: every folder is watched" wait_for log_has "every folder is watched now"
	is "$(kernel_watches)" 8 "... all 8 of them"
	cp "$T/sample.jpg" "$unwatched/later.jpg"
	check "... and a file dropped there is seen" wait_for is_file "$T/lim-out$rel/later_thumbnail.jpg"
	kill -TERM "$PID"
	wait_exit "$NS"
	is "$STATUS" 0 "exit 0"
	PID=
	cat "$LOG" >>"$T/log"
else
	echo "# no user namespaces here: the watch limit part is not run"
fi
done_testing
