#!/bin/sh
# Fewer inotify watches than folders: the daemon says which subtrees are not
# watched and the exact sysctl line to fix it, still thumbnails what is there
# (catch-up), and keeps working for the folders it watches. The limit is
# lowered in a user namespace of the test's own, so nothing else is affected.
. "$(dirname "$0")/lib.sh"

unshare --user --map-root-user sh -c 'echo 4 >/proc/sys/user/max_inotify_watches' 2>/dev/null ||
	{ echo "1..0 # SKIP cannot set an inotify watch limit in a user namespace (unshare -U refused)"; exit 0; }

mkdir -p "$T/in/a/a1" "$T/in/a/a2" "$T/in/b/b1" "$T/in/b/b2" "$T/in/c"
for d in a/a1 a/a2 b/b1 b/b2 c; do cp "$T/sample.jpg" "$T/in/$d/x.jpg"; done
LOG=$T/log.limits
unshare --user --map-root-user sh -c 'echo 4 >/proc/sys/user/max_inotify_watches && exec "$0" "$@"' \
	"$THUMBWATCH" "$T/in" "$T/out" 2>"$LOG" &
PID=$!
check "ready with 4 watches for 8 folders" wait_ready
check "the limit is reported with the sysctl line to raise it" \
	log_has "watch limit reached: '$T/in/[abc][^']*' and the folders below it are not watched .*sysctl fs.inotify.max_user_watches=[0-9][0-9]*"
is "$(kernel_watches)" 4 "four folders are watched"
all_made() { [ "$(find "$T/out" -name 'x_thumbnail.jpg' | wc -l)" -eq 5 ]; }
check "what is there is thumbnailed all the same (catch-up scan)" wait_for all_made
cp "$T/sample.jpg" "$T/in/top.jpg"
check "a watched folder keeps working" wait_for is_file "$T/out/top_thumbnail.jpg"
stop_daemon
is "$STATUS" 0 "exit 0"
done_testing
