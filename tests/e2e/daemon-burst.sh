#!/bin/sh
# A burst of 5,000 files into new nested folders with queue_size = 4: every
# file gets exactly one thumbnail. Then the same with the kernel's queue
# overflowing (inotify's made tiny; fanotify's filled), so events are lost:
# the rescan after the overflow must recover every file.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed to write the burst"; exit 0; }
gm convert -size 64x48 xc:orange "$T/tiny.jpg"

# burst DIR N: N files in 50 new nested folders, as fast as one process can.
burst() {
	python3 - "$T/tiny.jpg" "$1" "$2" <<'PY'
import os, shutil, sys
src, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, "rb").read()
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 10), "e%d" % (i % 5))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.jpg" % i), "wb") as f:
        f.write(data)
PY
}
count() { find "$1" -type f -name '*_thumbnail.jpg' | wc -l; }
has_count() { [ "$(count "$1")" -eq "$2" ]; }

N=5000
WAIT_SECONDS=${WAIT_SECONDS_BURST:-300}
printf '[thumbwatch]\nqueue_size = 4\n[drop:burst]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >"$T/tw.conf"
start_daemon --config "$T/tw.conf"
check "ready" wait_ready
burst "$T/in/burst" $N
check "burst of $N files into new folders with queue_size = 4: every one is made" wait_for has_count "$T/out" $N
is "$(find "$T/out" -type f | wc -l)" $N "exactly one file per source, nothing else"
is "$(temporaries "$T/out")" 0 "no temporaries left"
stop_daemon
is "$STATUS" 0 "exit 0"

# overflow_run: the daemon frozen while files land in folders it watches,
# so that its kernel queue overflows: the rescan must recover every file.
overflow_run() {
	rm -rf "$T/in/burst" "$T/out"
	start_daemon --config "$T/tw.conf"
	check "ready ($1)" wait_ready
	[ -n "${restore_queue:-}" ] && echo "$old" >"$q"
	burst "$T/in/burst" 50
	check "the folders are watched (their first files are made)" wait_for has_count "$T/out" 50
	kill -STOP "$PID"
	burst "$T/in/burst" $N
	[ "$WATCHER" = fanotify ] && python3 -c '
import os, sys
for i in range(int(sys.argv[2])):
    open(os.path.join(sys.argv[1], "x%d" % i), "w").close()' "$T/filler" "$fill"
	kill -CONT "$PID"
	check "the kernel queue overflowed (logged)" wait_for log_has "$WATCHER queue overflowed"
	check "after the overflow, the rescan recovers all $N files" wait_for has_count "$T/out" $N
	is "$(find "$T/out" -type f | wc -l)" $N "... each with exactly one thumbnail"
	stop_daemon
	is "$STATUS" 0 "exit 0"
}
if [ "$WATCHER" = fanotify ]; then
	# fanotify's queue holds the events of the whole file system: lowering
	# fs.fanotify.max_queued_events, even for a moment, would starve any
	# other group made meanwhile (another test's daemon). It is overflowed
	# at its size, with more files made elsewhere on the file system.
	fill=$(( $(cat /proc/sys/fs/fanotify/max_queued_events 2>/dev/null || echo 16384) + 5000 ))
	mkdir "$T/filler"
	if [ "$fill" -le 300000 ]; then
		overflow_run "$fill other files to overflow the queue"
	else
		ok "# SKIP fs.fanotify.max_queued_events is $((fill - 5000)): too many files to overflow it"
	fi
else
	# Needs root to lower fs.inotify.max_queued_events for a moment: the new
	# inotify instance has its tiny queue; the rest of the machine gets the
	# old value back once the daemon is ready. Two events each against a
	# queue of 64: the queue must overflow.
	q=/proc/sys/fs/inotify/max_queued_events
	if [ -w "$q" ] && old=$(cat "$q") && echo 64 >"$q" 2>/dev/null; then
		trap 'echo "$old" >"$q"; cleanup' EXIT
		restore_queue=1
		overflow_run "max_queued_events = 64"
	else
		ok "# SKIP cannot lower fs.inotify.max_queued_events (needs root): overflow not forced"
	fi
fi
grep -v ' -> ' "$T/log" | diag | tail -n 12
done_testing
