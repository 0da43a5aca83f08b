#!/bin/sh
# sd_notify as systemd sees it: READY=1, STATUS=, WATCHDOG=1 (with
# WATCHDOG_USEC), RELOADING=1 after SIGHUP, STOPPING=1 after SIGTERM.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed to listen on the notify socket"; exit 0; }
python3 "$(dirname "$0")/notify-listener.py" "$T/notify.sock" "$T/notify.log" &
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; cleanup' EXIT
notified() { grep -q -- "$1" "$T/notify.log" 2>/dev/null; }
check "the listener is up" wait_for notified LISTENING

NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 start_daemon "$T/in" "$T/out"
check "READY=1 once the roots are watched" wait_for notified '^READY=1$'
check "READY=1 comes after the watch is set up" log_has "ready:"
check "STATUS= with live counters and the memory budget in use" \
	wait_for notified '^STATUS=queued [0-9]*, made [0-9]*, failed [0-9]*, up to date [0-9]*, retrying [0-9]*, watches 1, memory [0-9]* of [1-9][0-9]* MB$'
check "WATCHDOG=1 while healthy (WATCHDOG_USEC set)" wait_for notified '^WATCHDOG=1$'
cp "$T/sample.jpg" "$T/in/a.jpg"
check "the thumbnail is made" wait_for is_file "$T/out/a_thumbnail.jpg"
check "STATUS= counts it" wait_for notified '^STATUS=queued 0, made 1, failed 0'
kill -HUP "$PID"
check "RELOADING=1 after SIGHUP" wait_for notified '^RELOADING=1$'
check "... with MONOTONIC_USEC" notified '^MONOTONIC_USEC=[0-9]*$'
ready_after_reload() { [ "$(grep -c '^READY=1$' "$T/notify.log")" -ge 2 ]; }
check "READY=1 again after the reload" wait_for ready_after_reload
stop_daemon
is "$STATUS" 0 "exit 0"
check "STOPPING=1 after SIGTERM" notified '^STOPPING=1$'

# Without NOTIFY_SOCKET nothing is sent, and nothing breaks; SIGINT stops it as SIGTERM does.
: >"$T/notify.log"
start_daemon "$T/in" "$T/out"
check "without NOTIFY_SOCKET the daemon runs" wait_ready
kill -INT "$PID"
wait_exit "$PID"
is "$STATUS" 0 "SIGINT: exit 0"
PID=
check "... and sends nothing" test ! -s "$T/notify.log"
done_testing
