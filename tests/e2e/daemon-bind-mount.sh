#!/bin/sh
# A folder reachable under two names inside a drop (a bind mount): the kernel
# has one watch for it, so the daemon watches it once, under the first name
# its walk meets, and files dropped through either name get thumbnails.
# Under AddressSanitizer the exit status also says that nothing leaked.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/in/real/sub" "$T/in/alias"
if ! mount --bind "$T/in/real" "$T/in/alias" 2>"$T/mount.err"; then
	echo "1..0 # SKIP cannot bind-mount here: $(cat "$T/mount.err")"
	exit 0
fi
trap 'umount "$T/in/alias" 2>/dev/null; cleanup' EXIT

start_daemon --log-level debug "$T/in" "$T/out"
check "ready" wait_ready
# in, in/real, in/real/sub: the alias and its sub-folder are the same two folders.
inotify_only "three folders, three watches: none twice" && is "$(kernel_watches)" 3 "three folders, three watches: none twice"
inotify_only "the second name is recognised" && check "the second name is recognised" wait_for log_has "under another name: watched once"
cp "$T/sample.jpg" "$T/in/real/sub/.n.tmp" && mv "$T/in/real/sub/.n.tmp" "$T/in/real/sub/new.jpg"
made() { [ -s "$T/out/real/sub/new_thumbnail.jpg" ] || [ -s "$T/out/alias/sub/new_thumbnail.jpg" ]; }
check "a file dropped through one name gets its thumbnail" wait_for made
cp "$T/sample.jpg" "$T/in/alias/sub/.m.tmp" && mv "$T/in/alias/sub/.m.tmp" "$T/in/alias/sub/other.jpg"
made2() { [ -s "$T/out/real/sub/other_thumbnail.jpg" ] || [ -s "$T/out/alias/sub/other_thumbnail.jpg" ]; }
check "... and one dropped through the other" wait_for made2
stop_daemon
is "$STATUS" 0 "SIGTERM: exit 0 (with AddressSanitizer: nothing leaked)"
done_testing
