#!/bin/sh
# A folder renamed before the watcher has read its rename event: a new folder
# is made and a watched one moved into it at once, so the walk of the new
# folder meets a folder the kernel watches already, under a name the watcher
# does not know yet. It is recognised by its inode and watched once, and
# everything ends up under its new name. A test hook makes the watcher pause
# before it handles the creation of each box folder, so the move is done
# before it walks the box (a loaded machine no longer decides whether the
# race happens); a burst of events ahead of them adds the unpaused form.
# Under AddressSanitizer the exit status also says whether anything leaked.
. "$(dirname "$0")/lib.sh"
"$THUMBWATCH" --version | grep -q "test hooks" || { echo "1..0 # SKIP needs a build with --enable-test-hooks"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 makes the race"; exit 0; }

ROUNDS=8
for i in $(seq $ROUNDS); do
	mkdir -p "$T/in/held$i/sub"
	cp "$T/sample.jpg" "$T/in/held$i/sub/h.jpg"
done
THUMBWATCH_TEST_DIR_PAUSE=box THUMBWATCH_TEST_DIR_PAUSE_MS=300 start_daemon --log-level debug "$T/in" "$T/out"
check "ready" wait_ready
all_made() {
	for i in $(seq $ROUNDS); do [ -s "$T/out/held$i/sub/h_thumbnail.jpg" ] || return 1; done
}
check "caught up" wait_for all_made

# Events from a burst of files ahead of them keep the watcher busy, so the
# move is done before it reads mkdir's event.
python3 - "$T/in" "$ROUNDS" <<'PY'
import os, sys
src, rounds = sys.argv[1], int(sys.argv[2])
os.mkdir(os.path.join(src, "burst"))
for i in range(rounds):
    for j in range(200):
        open(os.path.join(src, "burst", "f%d-%d.txt" % (i, j)), "w").close()
    box = os.path.join(src, "box%d" % i)
    os.mkdir(box)
    os.rename(os.path.join(src, "held%d" % (i + 1)), os.path.join(box, "held"))
PY
moved() {
	for i in $(seq $ROUNDS); do
		[ -s "$T/out/box$((i - 1))/held/sub/h_thumbnail.jpg" ] && [ ! -e "$T/out/held$i" ] || return 1
	done
}
check "each moved folder's thumbnails are under its new name, none under the old" wait_for moved
races=$(grep -c "before its event was read" "$LOG")
# (fanotify names a folder by its path now: no watch, so no such race to log)
inotify_only "the race happened" && check "the race happened ($races of $ROUNDS rounds)" test "$races" -ge $((ROUNDS / 2))
for i in $(seq $ROUNDS); do cp "$T/sample.jpg" "$T/in/box$((i - 1))/held/sub/later.jpg"; done
later() {
	for i in $(seq $ROUNDS); do [ -s "$T/out/box$((i - 1))/held/sub/later_thumbnail.jpg" ] || return 1; done
}
check "the moved folders are watched under their new names" wait_for later
folders=$(find "$T/in" -type d | wc -l)
watched() { [ "$(kernel_watches)" -eq "$folders" ]; }
if inotify_only "one watch per folder ($folders folders)"; then
	check "one watch per folder ($folders folders)" wait_for watched
	[ "$(kernel_watches)" -eq "$folders" ] || echo "#   the kernel counts $(kernel_watches) watches"
fi
stop_daemon
is "$STATUS" 0 "SIGTERM: exit 0 (with AddressSanitizer: nothing leaked)"
done_testing
