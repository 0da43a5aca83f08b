#!/bin/sh
# Hostile RAWs. libraw runs in a process of its own for each file: a RAW it
# crashes on, one it hangs on and one that makes it ask for gigabytes cost
# those files a logged failure, not the daemon, which goes on making the
# thumbnails of the files beside them. The inputs are the fuzzer's
# (tests/fuzz/decode-raw); the crash and the hang are also forced through the
# test hook THUMBWATCH_TEST_RAW_CHILD, since libraw's wild read may land on
# mapped memory in a build without ASan.
. "$(dirname "$0")/lib.sh"

"$THUMBWATCH" --version | grep -q "+raw" || { echo "1..0 # SKIP a build without libraw"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is missing"; exit 0; }
fuzz=$TOP_SRCDIR/tests/fuzz/decode-raw
gm convert -size 320x480 gradient:red-blue "$T/preview.jpg"
python3 "$TOP_SRCDIR/tests/unit/make-dng.py" "$T/camera.dng" --preview "$T/preview.jpg"
peak() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID/status"; }
no_children() { [ -z "$(children_of "$PID")" ]; }
# At most one libraw process per worker (kept between files), none a zombie.
helpers_ok() {
	set -- $(children_of "$PID")
	[ $# -le 2 ] || return 1
	for p in "$@"; do [ "$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$p/stat")" != Z ] || return 1; done
}

# The fuzzer's inputs among good files, to a running daemon.
printf '[thumbwatch]\nlog_level = debug\nworkers = 2\n[drop:d]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >"$T/tw.conf"
start_daemon --config "$T/tw.conf"
check "ready" wait_ready
cp "$fuzz/crash-cecb72ec423beb25df1775c3368e6103a81366d3" "$T/in/crash.dng"
cp "$fuzz/oom-c969aef78154ea12523cfd627ccf4cc5caff0d66" "$T/in/greedy.dng"
cp "$T/camera.dng" "$T/in/good.dng"
cp "$T/sample.jpg" "$T/in/good.jpg"
check "the good RAW is made" wait_for is_file "$T/out/good_thumbnail.dng.jpg"
check "the good JPEG is made" wait_for is_file "$T/out/good_thumbnail.jpg"
# In the daemon libraw reads it through /proc/self/fd: a wild read there may
# crash (under a sanitizer, whose handler ends the process with its own exit
# status) or find a JPEG without its end (truncated, or still arriving):
# whichever, a failure logged, and the daemon goes on (checked below).
crash_logged() { log_has "crash.dng' failed (" || log_has "crash.dng' looks truncated"; }
# (A sanitizer's report of the crash, symbolized, can take long: 60 s.)
WAIT_SECONDS=60 check "the RAW libraw crashes on (under ASan) fails, logged" wait_for crash_logged
# Its allocation fails under the process's limit; a sanitizer's allocator ends the
# process instead (exit 1, or SIGABRT with abort_on_error), a crash.
greedy_logged() {
	log_has "greedy.dng' failed (too-large): unpacking the preview: libraw wanted more memory" ||
		{ ldd "$THUMBWATCH" | grep -q 'lib[at]san' && log_has "greedy.dng' failed (crashed): libraw"; }
}
check "the RAW that asks for 3 GB fails as too-large, logged" wait_for greedy_logged
check "... remembered as failed" is_file "$(record "$T/out" "$T/in/greedy.dng")"
hwm=$(peak)
echo "# daemon peak RSS: ${hwm:-?} kB"
check "the daemon did not grow by it (peak under 1 GB)" test "${hwm:-0}" -lt 1048576
check "no libraw process is left but one per worker (2), none a zombie" wait_for helpers_ok
check "the daemon is still running" running "$PID"
# kill -9 of the libraw processes between files: the next RAW is made, and
# not blamed. (A worker reaps its killed process at its next RAW or its end.)
for p in $(children_of "$PID"); do kill -KILL "$p"; done
cp "$T/camera.dng" "$T/in/after-kill.dng"
check "libraw's processes killed: the next RAW is made" wait_for is_file "$T/out/after-kill_thumbnail.dng.jpg"
is "$(grep -c "after-kill.dng' failed" "$LOG")" 0 "... and not logged as failed"
stop_daemon
is "$STATUS" 0 "exit 0"

if "$THUMBWATCH" --version | grep -q "test hooks"; then
	# libraw crashes: the file fails as crashed at once, is remembered, and is
	# not tried again by the next start's catch-up scan; the daemon stays up.
	rm -rf "$T/in" "$T/out"
	mkdir "$T/in"
	cp "$T/camera.dng" "$T/in/poison.dng"
	THUMBWATCH_TEST_RAW_CHILD=crash start_daemon --config "$T/tw.conf"
	check "crash: ready" wait_ready
	cp "$T/sample.jpg" "$T/in/beside.jpg"
	check "crash: the RAW fails as crashed, naming the signal" \
		wait_for log_has "poison.dng' failed (crashed): libraw crashed on it (SIGSEGV)"
	check "crash: remembered" grep -q crashed "$(record "$T/out" "$T/in/poison.dng")"
	check "crash: the JPEG beside it is made" wait_for is_file "$T/out/beside_thumbnail.jpg"
	check "crash: no libraw process left" wait_for no_children
	check "crash: the daemon is still running" running "$PID"
	stop_daemon
	is "$STATUS" 0 "crash: exit 0"
	THUMBWATCH_TEST_RAW_CHILD=crash start_daemon --config "$T/tw.conf"
	check "crash: restarted, ready" wait_ready
	check "crash: not tried again after a restart" wait_for log_has "poison.dng' failed before (crashed) and has not changed"
	is "$(grep -c "poison.dng' failed (" "$LOG")" 0 "crash: ... and not logged as failing again"
	stop_daemon

	# Started with SIGCHLD ignored (inherited from a careless parent), the
	# crash is still told apart: no child is reaped behind libraw's back.
	rm -rf "$T/out"
	THUMBWATCH_TEST_RAW_CHILD=crash "$DEBIAN_PYTHON3" -c '
import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
os.execv(sys.argv[1], sys.argv[1:])' "$THUMBWATCH" --once "$T/in" "$T/out" 2>"$T/log.sigchld"
	check "crash with SIGCHLD ignored: still a crash, naming the signal" \
		grep -q "poison.dng' failed (crashed): libraw crashed on it (SIGSEGV)" "$T/log.sigchld"

	# libraw hangs: its process is killed at job_timeout, the file fails as a
	# timeout, and the worker goes on.
	rm -rf "$T/in" "$T/out"
	mkdir "$T/in"
	printf '[thumbwatch]\njob_timeout = 1s\nworkers = 1\n[drop:d]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >"$T/hang.conf"
	THUMBWATCH_TEST_RAW_CHILD=hang start_daemon --config "$T/hang.conf"
	check "hang: ready" wait_ready
	cp "$T/camera.dng" "$T/in/stuck.dng"
	check "hang: the RAW fails as a timeout" wait_for log_has "stuck.dng' failed (timeout): libraw ran past the job's timeout"
	cp "$T/sample.jpg" "$T/in/next.jpg"
	check "hang: the one worker goes on to the next file" wait_for is_file "$T/out/next_thumbnail.jpg"
	check "hang: the hung process was killed and reaped" wait_for no_children
	stop_daemon
	is "$STATUS" 0 "hang: exit 0"

	# SIGTERM while libraw hangs, to the daemon and libraw's process at once
	# (systemctl stop signals every process of the unit): the daemon stops at
	# stop_timeout (not at job_timeout), stopping libraw's process, and blames
	# no file.
	rm -rf "$T/in" "$T/out"
	mkdir "$T/in"
	printf '[thumbwatch]\njob_timeout = 600s\nstop_timeout = 1\n[drop:d]\nsource = %s\noutput = %s\n' \
		"$T/in" "$T/out" >"$T/stop.conf"
	THUMBWATCH_TEST_RAW_CHILD=hang start_daemon --config "$T/stop.conf"
	check "stop: ready" wait_ready
	cp "$T/camera.dng" "$T/in/stuck.dng"
	check "stop: libraw's process is working on it" wait_for eval '[ -n "$(children_of "$PID")" ]'
	kill -TERM $(children_of "$PID")
	stop_daemon
	is "$STATUS" 0 "stop: SIGTERM while libraw hangs: exit 0, well before job_timeout (600 s)"
	is "$(grep -c "stuck.dng' failed" "$LOG")" 0 "stop: the file is not blamed"
else
	for k in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do ok "# SKIP libraw's crash and hang: needs --enable-test-hooks"; done
fi
done_testing
