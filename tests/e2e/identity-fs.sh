#!/bin/sh
# Output on file systems that keep coarser timestamps or no extended
# attributes, sources on one that keeps nanoseconds: ext4 with 128-byte
# inodes (whole seconds, but extended attributes, so the stamp carries the
# source's full identity), ramfs (no extended attributes: the thumbnail's own
# mtime carries the source's) and vfat (2-second mtimes and no extended
# attributes: compared at the precision the output keeps; skipped where the
# kernel has no vfat). A second run makes nothing, a restarted daemon's
# catch-up makes nothing, and without extended attributes a source replaced
# by an older file is still made again. Needs root, for the mounts.
. "$(dirname "$0")/lib.sh"
command -v mkfs.ext4 >/dev/null || { echo "1..0 # SKIP mkfs.ext4 (e2fsprogs) is not installed"; exit 0; }

mkdir "$T/ext4" "$T/vfat" "$T/ramfs"
unmount() {
	if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=; fi
	for m in "$T/ext4" "$T/vfat" "$T/ramfs"; do
		mountpoint -q "$m" 2>/dev/null && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
}
trap 'unmount; cleanup' EXIT
trap 'exit 1' INT TERM HUP PIPE
truncate -s 32M "$T/ext4.img"
mkfs.ext4 -q -F -I 128 "$T/ext4.img" >/dev/null 2>&1
if ! mount -o loop "$T/ext4.img" "$T/ext4" 2>"$T/mount.err"; then
	echo "1..0 # SKIP cannot mount a loop device here: $(cat "$T/mount.err")"
	exit 0
fi

wh() { gm identify -format '%w %h' "$1" 2>/dev/null; }
caught_up() { grep -q "caught up in" "$LOG"; }
# Sources with nanoseconds in their mtimes: one just made, one from a
# camera whose clock runs a day ahead, one old.
cp "$T/sample.jpg" "$T/in/fresh.jpg"
cp "$T/sample.jpg" "$T/in/camera.jpg"
touch -d "@$(( $(date +%s) + 86400 )).5" "$T/in/camera.jpg"
gm convert -size 200x100 xc:red "$T/in/older.jpg"
touch -d "@1577836800.123456789" "$T/in/older.jpg"
is "$(stat -c %.9Y "$T/in/older.jpg")" "1577836800.123456789" "the source file system keeps nanoseconds"
touch -d "@1577836800.123456789" "$T/ext4/probe"
is "$(stat -c %.9Y "$T/ext4/probe")" "1577836800.000000000" "ext4 with 128-byte inodes keeps whole seconds"
rm "$T/ext4/probe"

# ext4, whole seconds: the stamp (an extended attribute) has the nanoseconds.
printf '[drop:e]\nsource = %s\noutput = %s\n' "$T/in" "$T/ext4/out" >"$T/ext4.conf"
"$THUMBWATCH" --config "$T/ext4.conf" --once >"$T/once1" 2>&1
is "$?" 0 "ext4: first --once exits 0"
check "ext4: first --once makes 3" grep -q "^made 3, up to date 0, failed 0" "$T/once1"
"$THUMBWATCH" --config "$T/ext4.conf" --once >"$T/once2" 2>&1
check "ext4: second --once makes nothing" grep -q "^made 0, up to date 3, failed 0" "$T/once2"
diag "$T/once2"

start_daemon --config "$T/ext4.conf"
check "ext4: the daemon catches up" wait_for caught_up
check "... making nothing" grep -q "caught up in .*: made 0, up to date 3, failed 0" "$LOG"
cp "$T/sample.jpg" "$T/in/live.jpg"
check "ext4: a file dropped live gets its thumbnail" wait_for is_file "$T/ext4/out/live_thumbnail.jpg"
stop_daemon
is "$STATUS" 0 "SIGTERM: exit 0"
start_daemon --config "$T/ext4.conf"
check "ext4: restarted, the daemon catches up" wait_for caught_up
check "... making nothing" grep -q "caught up in .*: made 0, up to date 4, failed 0" "$LOG"
grep "caught up" "$LOG" | diag
stop_daemon
is "$STATUS" 0 "SIGTERM: exit 0"

# The output's disk unmounted under the daemon: no thumbnail goes to the
# disk below (the mount point's); retried, and made once it is back. Both an
# output inside the mount and the mount point itself as the output.
mkdir "$T/in-u"
for output in "$T/ext4/out-u" "$T/ext4"; do
	printf '[thumbwatch]\nretry_io = 1s\n[drop:u]\nsource = %s\noutput = %s\n' "$T/in-u" "$output" >"$T/umount.conf"
	rm -f "$T/in-u/"*
	start_daemon --config "$T/umount.conf"
	check "ext4: ready" wait_ready
	umount "$T/ext4"
	cp "$T/sample.jpg" "$T/in-u/while-away.jpg"
	check "the output's disk unmounted ($output): an io failure naming the output" \
		wait_for log_has "in-u/while-away.jpg' failed (io): cannot open or create the output folder '$output'"
	check "... nothing was written to the disk below" test -z "$(ls -A "$T/ext4")"
	mount -o loop "$T/ext4.img" "$T/ext4"
	check "mounted again: made, with no new event" wait_for is_file "$output/while-away_thumbnail.jpg"
	stop_daemon
	is "$STATUS" 0 "SIGTERM: exit 0"
done

# no_xattrs LABEL CONF IMAGE-FUNCTION DIMS: the output of CONF keeps no
# extended attributes, so a thumbnail's own mtime carries its source's. A
# second --once makes nothing; older.jpg replaced by another image (IMAGE,
# whose thumbnail is DIMS) with an older mtime is still made again.
no_xattrs() {
	"$THUMBWATCH" --config "$2" --once >"$T/once-$1-1" 2>&1
	is "$?" 0 "$1: first --once exits 0"
	check "$1: first --once makes 4" grep -q "^made 4, up to date 0, failed 0" "$T/once-$1-1"
	"$THUMBWATCH" --config "$2" --once >"$T/once-$1-2" 2>&1
	check "$1: second --once makes nothing" grep -q "^made 0, up to date 4, failed 0" "$T/once-$1-2"
	diag "$T/once-$1-2"
	"$3" "$T/older.jpg"
	touch -d "@$4" "$T/older.jpg"
	mv "$T/older.jpg" "$T/in/older.jpg"
	"$THUMBWATCH" --config "$2" --once >"$T/once-$1-3" 2>&1
	check "$1: a source replaced by an older file (mv) is made again" \
		grep -q "^made 1, up to date 3, failed 0" "$T/once-$1-3"
	diag "$T/once-$1-3"
	is "$(wh "$(sed -n 's/^output = //p' "$2")/older_thumbnail.jpg")" "$5" "... and shows the new image"
	"$THUMBWATCH" --config "$2" --once >"$T/once-$1-4" 2>&1
	check "$1: then nothing again" grep -q "^made 0, up to date 4, failed 0" "$T/once-$1-4"
}
blue() { gm convert -size 100x200 xc:blue "$1"; }     # thumbnail 64x128
green() { gm convert -size 150x150 xc:green "$1"; }   # thumbnail 128x128

# ramfs: nanosecond mtimes, no extended attributes.
if mount -t ramfs ramfs "$T/ramfs" 2>"$T/mount.err"; then
	check "ramfs keeps no extended attributes" sh -c "! python3 -c 'import os, sys; os.setxattr(sys.argv[1], \"user.x\", b\"1\")' '$T/ramfs' 2>/dev/null"
	printf '[drop:r]\nsource = %s\noutput = %s\n' "$T/in" "$T/ramfs/out" >"$T/ramfs.conf"
	no_xattrs ramfs "$T/ramfs.conf" blue 1559347201.5 "64 128"
	is "$(stat -c %.9Y "$T/ramfs/out/older_thumbnail.jpg")" "$(stat -c %.9Y "$T/in/older.jpg")" \
		"ramfs: the thumbnail's mtime is its source's"
	# Without stamps thumbwatch cannot tell its files from an admin's: --gc
	# removes nothing there, and says so.
	cp "$T/sample.jpg" "$T/ramfs/out/my-logo.jpg"
	"$THUMBWATCH" --config "$T/ramfs.conf" --gc >"$T/ramfs.gc" 2>&1
	check "ramfs: --gc keeps an image thumbwatch did not make" test -s "$T/ramfs/out/my-logo.jpg"
	check "... and reports it" grep -q "^kept $T/ramfs/out/my-logo.jpg: not made by thumbwatch" "$T/ramfs.gc"
	# Without stamps a.jpg and a.png (format = jpeg) would overwrite each
	# other at every pass: such a drop is refused, saying what to do.
	printf '[drop:r]\nsource = %s\noutput = %s\nformat = jpeg\n' "$T/in" "$T/ramfs/out" >"$T/ramfs-jpeg.conf"
	"$THUMBWATCH" --config "$T/ramfs-jpeg.conf" --once >/dev/null 2>"$T/ramfs-jpeg.err"
	is "$?" 2 "ramfs, format = jpeg: refused (exit 2)"
	check "... saying why and what to do" grep -q "keeps no extended attributes to tell them apart: put {name} in the name" "$T/ramfs-jpeg.err"
else
	ok "# SKIP cannot mount ramfs here: $(head -n 1 "$T/mount.err")"
fi

# vfat: 2-second mtimes, no extended attributes.
if ! command -v mkfs.vfat >/dev/null; then
	ok "# SKIP mkfs.vfat (dosfstools) is not installed"
	done_testing
	exit
fi
truncate -s 32M "$T/vfat.img"
mkfs.vfat "$T/vfat.img" >/dev/null 2>&1
if ! mount -o loop "$T/vfat.img" "$T/vfat" 2>"$T/mount.err"; then
	ok "# SKIP cannot mount vfat here: $(head -n 1 "$T/mount.err")"
	done_testing
	exit
fi
touch -d "@1577836801.5" "$T/vfat/probe"
is "$(stat -c %.9Y "$T/vfat/probe")" "1577836800.000000000" "vfat keeps even seconds"
rm "$T/vfat/probe"
printf '[drop:v]\nsource = %s\noutput = %s\n' "$T/in" "$T/vfat/out" >"$T/vfat.conf"
no_xattrs vfat "$T/vfat.conf" green 1527811201.5 "128 128"
done_testing
