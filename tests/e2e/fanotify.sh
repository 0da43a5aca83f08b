#!/bin/sh
# watcher = fanotify where it cannot be had, and what only that mode does:
# --check-config and the start-up name the missing capability, a file
# system without file handles or an old kernel, and exit non-zero (no
# silent fallback to inotify); a reload to such a config keeps the running
# one; the mode comes and goes with a reload; writers elsewhere on the
# marked file system are passed over; a drop's file system unmounted and
# mounted again. Needs root (the mode needs CAP_SYS_ADMIN).
. "$(dirname "$0")/lib.sh"

chmod 755 "$T"
trap 'for m in ramfs disk in-m/disk in-m/bind; do mountpoint -q "$T/$m" 2>/dev/null && umount "$T/$m"; done; cleanup' EXIT
conf() { # FILE WATCHER SOURCE OUTPUT
	printf '[thumbwatch]\nwatcher = %s\n[drop:a]\nsource = %s\noutput = %s\n' "$2" "$3" "$4" >"$1"
}
conf "$T/fan.conf" fanotify "$T/in" "$T/out"
if ! "$THUMBWATCH" --check-config "$T/fan.conf" >/dev/null 2>"$T/why"; then
	echo "1..0 # SKIP watcher = fanotify cannot be had here: $(tail -n 1 "$T/why")"
	exit 0
fi
ok "--check-config with watcher = fanotify: exit 0 (root)"
"$THUMBWATCH" --check-config "$T/fan.conf" 2>/dev/null | grep -q '^watcher = fanotify' &&
	ok "... and it prints watcher = fanotify" || fail "... and it prints watcher = fanotify"

# Without a capability: the check and the start-up say which, and what to do.
if command -v setpriv >/dev/null && setpriv --bounding-set=-sys_admin true 2>/dev/null; then
	setpriv --bounding-set=-sys_admin "$THUMBWATCH" --check-config "$T/fan.conf" >/dev/null 2>"$T/err"
	is "$?" 2 "without CAP_SYS_ADMIN: --check-config exits 2"
	check "... naming CAP_SYS_ADMIN, the drop-in and watcher = inotify" \
		grep -q "needs CAP_SYS_ADMIN.*thumbwatch-fanotify.conf.*watcher = inotify" "$T/err"
	setpriv --bounding-set=-dac_read_search "$THUMBWATCH" --check-config "$T/fan.conf" >/dev/null 2>"$T/err"
	is "$?" 2 "without CAP_DAC_READ_SEARCH: --check-config exits 2"
	check "... naming CAP_DAC_READ_SEARCH" grep -q "open_by_handle_at() refused: it needs CAP_DAC_READ_SEARCH" "$T/err"
	conf "$T/noperm.conf" fanotify "$T/in" "$T/out-noperm"
	setpriv --bounding-set=-sys_admin "$THUMBWATCH" --config "$T/noperm.conf" 2>"$T/err" &
	wait_exit $!
	is "$STATUS" 1 "without CAP_SYS_ADMIN: the daemon does not start (exit 1)"
	check "... saying why" grep -q "needs CAP_SYS_ADMIN" "$T/err"
	check "... and does not fall back to inotify" sh -c "! grep -q 'ready:' '$T/err'"
	check "... having written nothing (its output is not even made)" is_gone "$T/out-noperm"
	setpriv --bounding-set=-sys_admin "$THUMBWATCH" --config "$T/fan.conf" --watcher inotify >/dev/null 2>&1 --check-config
	is "$?" 0 "--watcher inotify on the command line overrides the config"
else
	echo "# setpriv cannot drop capabilities here: the capability part is not run"
fi
"$THUMBWATCH" --watcher kqueue "$T/in" "$T/out" 2>"$T/err"
is "$?" 2 "--watcher kqueue: a usage error"
check "... saying what is expected" grep -q "watcher 'kqueue'.*expected inotify.*or fanotify" "$T/err"

# A file system without file handles (ramfs): refused by name.
mkdir "$T/ramfs"
if mount -t ramfs ramfs "$T/ramfs" 2>/dev/null; then
	mkdir "$T/ramfs/in"
	conf "$T/ram.conf" fanotify "$T/ramfs/in" "$T/out-ram"
	"$THUMBWATCH" --check-config "$T/ram.conf" >/dev/null 2>"$T/err"
	is "$?" 2 "a source on ramfs: --check-config exits 2"
	check "... the file system cannot report file handles: use inotify" \
		grep -q "the file system of '$T/ramfs/in' cannot .*use watcher = inotify" "$T/err"
else
	ok "# SKIP cannot mount ramfs here"
	ok "# SKIP cannot mount ramfs here"
fi

# Reloads: inotify to fanotify and back; to a config that cannot be had,
# the running one stays.
conf "$T/tw.conf" inotify "$T/in" "$T/out"
"$THUMBWATCH" --config "$T/tw.conf" 2>"$T/log.reload" &
PID=$!
LOG=$T/log.reload
check "ready with inotify" wait_for log_has "ready: drops 1, folders watched 1"
cp "$T/fan.conf" "$T/tw.conf"
kill -HUP "$PID"
check "reloaded with fanotify" wait_for log_has "reloaded: drops 1, file systems marked (fanotify) 1"
cp "$T/sample.jpg" "$T/in/after-switch.jpg"
check "... and a file dropped then is made" wait_for is_file "$T/out/after-switch_thumbnail.jpg"
if [ -f "$T/ram.conf" ]; then
	cp "$T/ram.conf" "$T/tw.conf"
	kill -HUP "$PID"
	check "a reload to a source fanotify cannot mark fails" wait_for log_has "reload failed, still running the previous config"
	cp "$T/sample.jpg" "$T/in/after-failed.jpg"
	check "... and the running config goes on" wait_for is_file "$T/out/after-failed_thumbnail.jpg"
fi
conf "$T/tw.conf" inotify "$T/in" "$T/out"
kill -HUP "$PID"
check "reloaded with inotify again" wait_for log_has "reloaded: drops 1, folders watched 1"
cp "$T/sample.jpg" "$T/in/back.jpg"
check "... and a file dropped then is made" wait_for is_file "$T/out/back_thumbnail.jpg"
stop_daemon
is "$STATUS" 0 "exit 0"

# Writers elsewhere on the marked file system: passed over, and the drop's
# files still made meanwhile.
mkdir "$T/elsewhere"
start_daemon --watcher fanotify --log-level debug "$T/in" "$T/out"
check "ready with fanotify" wait_ready
i=0
while [ $i -lt 300 ]; do cp "$T/sample.jpg" "$T/elsewhere/e$i.jpg"; i=$((i + 1)); done
mkdir "$T/elsewhere/sub" && mv "$T/elsewhere/sub" "$T/elsewhere/sub2" && rm -r "$T/elsewhere/sub2"
cp "$T/sample.jpg" "$T/in/busy.jpg"
check "a file dropped while others write elsewhere is made" wait_for is_file "$T/out/busy_thumbnail.jpg"
is "$(grep -c "elsewhere" "$LOG")" 0 "nothing outside the drop is an event of it"
is "$(find "$T/out" -name 'e*_thumbnail.jpg' | wc -l)" 0 "... nor made"
stop_daemon
is "$STATUS" 0 "exit 0"

# A drop on its own file system: unmounted under the daemon (a mount is
# never kept busy), mounted again, caught up.
mkdir "$T/disk"
if command -v mkfs.ext4 >/dev/null && mkfs.ext4 -q -F "$T/disk.img" 8M >/dev/null 2>&1 &&
	mount -o loop "$T/disk.img" "$T/disk" 2>/dev/null; then
	mkdir "$T/disk/in"
	start_daemon --watcher fanotify "$T/disk/in" "$T/out-disk"
	check "ready on a loop-mounted disk" wait_ready
	cp "$T/sample.jpg" "$T/disk/in/one.jpg"
	check "a file dropped on it is made" wait_for is_file "$T/out-disk/one_thumbnail.jpg"
	check "the disk unmounts under the daemon (not busy)" wait_for umount "$T/disk"
	check "... its going is logged" wait_for log_has "source '$T/disk/in' is gone"
	mount -o loop "$T/disk.img" "$T/disk"
	cp "$T/sample.jpg" "$T/disk/in/two.jpg"
	check "mounted again: marked again and caught up" wait_for is_file "$T/out-disk/two_thumbnail.jpg"
	cp "$T/sample.jpg" "$T/disk/in/three.jpg"
	check "... and new files on it are made" wait_for is_file "$T/out-disk/three_thumbnail.jpg"
	# At once: the same device and inode come back, but the mark went
	# with the file system that was unmounted.
	umount "$T/disk" && mount -o loop "$T/disk.img" "$T/disk"
	cp "$T/sample.jpg" "$T/disk/in/four.jpg"
	check "unmounted and mounted again at once: its files are still made" wait_for is_file "$T/out-disk/four_thumbnail.jpg"
	cp "$T/sample.jpg" "$T/disk/in/five.jpg"
	check "... new ones too" wait_for is_file "$T/out-disk/five_thumbnail.jpg"
	stop_daemon
	is "$STATUS" 0 "exit 0"
	umount "$T/disk"

	# Mounts below a source: a bind mount of a folder elsewhere on the same
	# file system there at start, a disk mounted later; both are marked and
	# their folders named through their mounts.
	mkdir -p "$T/origin" "$T/in-m/bind" "$T/in-m/disk"
	mount --bind "$T/origin" "$T/in-m/bind"
	start_daemon --watcher fanotify "$T/in-m" "$T/out-m"
	check "ready with a bind mount below the source" wait_ready
	cp "$T/sample.jpg" "$T/in-m/bind/x.jpg"
	check "a file dropped into the bind mount below the source is made" wait_for is_file "$T/out-m/bind/x_thumbnail.jpg"
	mount -o loop "$T/disk.img" "$T/in-m/disk"
	check "a disk mounted below the source later is marked" wait_for log_has "'$T/in-m/disk' was mounted below a source"
	check "... and scanned" wait_for is_file "$T/out-m/disk/in/five_thumbnail.jpg"
	cp "$T/sample.jpg" "$T/in-m/disk/y.jpg"
	check "... and a file dropped onto it is made" wait_for is_file "$T/out-m/disk/y_thumbnail.jpg"
	stop_daemon
	is "$STATUS" 0 "exit 0"
	umount "$T/in-m/disk" "$T/in-m/bind"
else
	ok "# SKIP cannot mount a loop device here"
fi
done_testing
