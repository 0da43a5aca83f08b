#!/bin/sh
# A folder renamed before the watcher has read its rename event: a new folder
# is made and a watched one moved into it at once, so the walk of the new
# folder meets a folder the kernel watches already, under a name the watcher
# does not know yet. It is recognised by its inode and watched once, and
# everything ends up under its new name. A test hook makes the watcher pause
# before it handles the creation of each box folder, so the move is done
# before it walks the box (a loaded machine no longer decides whether the
# race happens); a burst of events ahead of them adds the unpaused form.
# Then a file is moved, and a folder renamed, while a worker (held by
# another hook) writes its thumbnail into the folder's mirror.
# Under AddressSanitizer the exit status also says whether anything leaked.
. "$(dirname "$0")/lib.sh"
"$THUMBWATCH" --version | grep -q "test hooks" || { echo "1..0 # SKIP needs a build with --enable-test-hooks"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 makes the race"; exit 0; }

ROUNDS=8
for i in $(seq $ROUNDS); do
	mkdir -p "$T/in/held$i/sub"
	cp "$T/sample.jpg" "$T/in/held$i/sub/h.jpg"
done
THUMBWATCH_TEST_DIR_PAUSE=box THUMBWATCH_TEST_DIR_PAUSE_MS=300 \
	THUMBWATCH_TEST_SLOW=inflight.jpg THUMBWATCH_TEST_SLOW_MS=1500 start_daemon --log-level debug "$T/in" "$T/out"
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

# A worker's write against a folder's move. A file being decoded (held
# 1.5 s by a test hook, its output folder open) moves to another folder, and
# the folder it left, empty now, is renamed: that folder's mirror follows
# it, and with it the folder the worker writes to. What the worker wrote has
# no source there (and a prune keeps what the mirror of an empty source
# folder holds: a disk not mounted?): it goes, and the thumbnail is made
# under the file's new name.
inflight() { grep -qs "$1" "$T/out/.thumbwatch/inflight/worker-"*; }     # the glob read at each call
mkdir "$T/in/trip" "$T/in/home"
cp "$T/sample.jpg" "$T/in/home/h.jpg"
check "another folder, watched" wait_for is_file "$T/out/home/h_thumbnail.jpg"
cp "$T/sample.jpg" "$T/in/trip/inflight.jpg"
check "a file being decoded" wait_for inflight trip/inflight.jpg
mv "$T/in/trip/inflight.jpg" "$T/in/home/inflight.jpg"
mv "$T/in/trip" "$T/in/trip-left"
check "... moved to the other folder meanwhile: its thumbnail is made there" \
	wait_for is_file "$T/out/home/inflight_thumbnail.jpg"
# (What it wrote goes by the worker's hand, or by the watcher's when it
# reads the move after the write: fanotify often does.)
check "... the worker saw it go" wait_for log_has "trip/inflight.jpg' went away while its thumbnail was made"
check "... nothing is left in the mirror of the folder it left, renamed meanwhile" \
	is_gone "$T/out/trip-left/inflight_thumbnail.jpg"
# A folder renamed while a file of it is decoded: the worker writes into
# the mirror, which followed the folder; the thumbnail is where it belongs,
# and stays.
mkdir "$T/in/album"
cp "$T/sample.jpg" "$T/in/album/inflight.jpg"
check "a file being decoded" wait_for inflight album/inflight.jpg
mv "$T/in/album" "$T/in/album-2"
check "... its folder renamed meanwhile: its thumbnail is under the new name" \
	wait_for is_file "$T/out/album-2/inflight_thumbnail.jpg"
check "... written into the mirror that followed the folder, and kept there" \
	wait_for log_has "album/inflight.jpg' went away while its thumbnail was made$"
check "... nothing under the old name" is_gone "$T/out/album"

stop_daemon
is "$STATUS" 0 "SIGTERM: exit 0 (with AddressSanitizer: nothing leaked)"
done_testing
