#!/bin/sh
# A truncated file in the live daemon: young, it may still be arriving, so it
# is tried again after truncated_grace instead of failing; completed
# meanwhile, it is made; left as it is, it fails as truncated and is not
# tried again until it changes.
. "$(dirname "$0")/lib.sh"

# The grace is long enough that a loaded machine still sees the first half
# while it is young (a file is young while its mtime is within the grace).
printf '[thumbwatch]\ntruncated_grace = 5s\n[drop:d]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >"$T/tw.conf"
start_daemon --config "$T/tw.conf"
check "ready" wait_ready
size=$(wc -c <"$T/sample.jpg")

# Written in two sessions: the first close leaves a truncated file.
head -c $((size / 2)) "$T/sample.jpg" >"$T/in/two-sessions.jpg"
check "a young truncated file is not failed: it is retried later" wait_for log_has "two-sessions.jpg' looks truncated (.*), perhaps still arriving"
tail -c +$((size / 2 + 1)) "$T/sample.jpg" >>"$T/in/two-sessions.jpg"
check "completed within the grace period: made" wait_for is_file "$T/out/two-sessions_thumbnail.jpg"
check "... and never logged as failed" test -z "$(grep 'two-sessions.jpg. failed' "$LOG")"

# Cut short for good.
head -c $((size / 2)) "$T/sample.jpg" >"$T/in/cut.jpg"
check "left truncated: it fails as truncated once the grace period is over" wait_for log_has "cut.jpg' failed (truncated)"
check "the failure is remembered" test -s "$(record "$T/out" "$T/in/cut.jpg")"
is "$(grep -c "cut.jpg' failed" "$LOG")" 1 "logged once"
stop_daemon
is "$STATUS" 0 "exit 0"
done_testing
