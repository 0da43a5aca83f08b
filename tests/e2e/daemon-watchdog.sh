#!/bin/sh
# The watchdog stops while a worker is stuck on one file past twice job_timeout, the
# other workers go on, and SIGTERM still ends the process when a worker never
# comes back. Needs a test build (--enable-test-hooks) for the hang.
. "$(dirname "$0")/lib.sh"

"$THUMBWATCH" --version | grep -q "test hooks" || { echo "1..0 # SKIP needs a build with --enable-test-hooks"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed to listen on the notify socket"; exit 0; }
python3 "$(dirname "$0")/notify-listener.py" "$T/notify.sock" "$T/notify.log" &
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; cleanup' EXIT
notified() { grep -q -- "$1" "$T/notify.log" 2>/dev/null; }
count() { grep -c -- "$1" "$T/notify.log"; }
check "the listener is up" wait_for notified LISTENING

printf '[thumbwatch]\nworkers = 2\njob_timeout = 500ms\nstop_timeout = 1\n[drop:d]\nsource = %s\noutput = %s\n' \
	"$T/in" "$T/out" >"$T/tw.conf"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=200000 THUMBWATCH_TEST_HANG=hang.jpg start_daemon --config "$T/tw.conf"
check "WATCHDOG=1 while healthy" wait_for notified '^WATCHDOG=1$'

cp "$T/sample.jpg" "$T/in/hang.jpg"
check "a worker stuck past job_timeout is logged" wait_for log_has "not pinging the watchdog"
before=$(count '^WATCHDOG=1$')
statuses=$(count '^STATUS=')
two_more_statuses() { [ "$(count '^STATUS=')" -ge $((statuses + 2)) ]; }
check "time passes (two more STATUS= updates)" wait_for two_more_statuses
is "$(count '^WATCHDOG=1$')" "$before" "no WATCHDOG=1 while the worker is stuck"
is "$(grep -c 'not pinging the watchdog' "$LOG")" 1 "the stall is logged once, not at every tick"

cp "$T/sample.jpg" "$T/in/fine.jpg"
check "the other worker goes on" wait_for is_file "$T/out/fine_thumbnail.jpg"

stop_daemon
is "$STATUS" 1 "SIGTERM with a worker that never returns: the process still ends (exit 1)"
check "... saying why" grep -q "a worker is stuck on one file; exiting without waiting for it" "$T/log"
check "STOPPING=1 was sent" notified '^STOPPING=1$'
done_testing
