#!/bin/sh
# Signals at awkward moments: a SIGTERM while a reload re-watches a large
# tree stops the daemon; a second SIGHUP in that window is applied after the
# first; the "reloaded" line and READY=1 come once the folders are watched.
. "$(dirname "$0")/lib.sh"

# 4000 folders: re-watching them takes long enough for signals to land in it.
python3 -c '
import os, sys
for i in range(40):
    for j in range(100):
        os.makedirs("%s/in/d%02d/e%02d" % (sys.argv[1], i, j))
' "$T" || { fail "python3 makes the folders"; done_testing; exit; }
folders=$((1 + 40 + 4000))
mkdir "$T/in2" "$T/out2" "$T/in3" "$T/out3"
conf() { # the drops: one, or one and two, or one, two and three
	printf '[thumbwatch]\nstop_timeout = 5s\n' >"$T/tw.conf"
	printf '[drop:one]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >>"$T/tw.conf"
	[ "$1" -ge 2 ] && printf '[drop:two]\nsource = %s\noutput = %s\n' "$T/in2" "$T/out2" >>"$T/tw.conf"
	[ "$1" -ge 3 ] && printf '[drop:three]\nsource = %s\noutput = %s\n' "$T/in3" "$T/out3" >>"$T/tw.conf"
	return 0
}
count() { grep -c "$1" "$LOG"; }

conf 1
start_daemon --config "$T/tw.conf"
check "ready" wait_for log_has "ready: drops 1, $(watched_count $folders)"

# A second SIGHUP while the first reload re-watches the tree.
conf 2
kill -HUP "$PID"
wait_for log_has "reloading the config"
conf 3
kill -HUP "$PID"
reloaded_with_three() { log_has "reloaded: drops 3, $(watched_count $((folders + 2)))"; }
check "a SIGHUP during a reload is applied after it: three drops, every folder watched" wait_for reloaded_with_three
cp "$T/sample.jpg" "$T/in3/third.jpg"
check "... and the third drop works" wait_for is_file "$T/out3/third_thumbnail.jpg"
check "no reload reports fewer folders than there are" test -z "$(grep 'reloaded:' "$LOG" | grep -v "$(watched_count $((folders + 1)))\$" | grep -v "$(watched_count $((folders + 2)))\$")"

# A SIGTERM while a reload re-watches the tree.
before=$(count "reloading the config")
kill -HUP "$PID"
more_reloads() { [ "$(count "reloading the config")" -gt "$before" ]; }
wait_for more_reloads
kill -TERM "$PID"
wait_exit "$PID"
is "$STATUS" 0 "a SIGTERM during a reload stops the daemon, exit 0"
PID=
check "... saying it stopped" log_has "stopped:"
cat "$LOG" >>"$T/log"

# A SIGTERM during start-up, while the tree is watched for the first time.
start_daemon --config "$T/tw.conf"
wait_for log_has "watching '$T/in'"
kill -TERM "$PID"
wait_exit "$PID"
is "$STATUS" 0 "a SIGTERM during start-up stops the daemon, exit 0"
PID=
cat "$LOG" >>"$T/log"
done_testing
