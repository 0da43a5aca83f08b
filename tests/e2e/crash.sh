#!/bin/sh
# Crashes. A poison file that kills the process while it is decoded does not
# crash-loop the service: tried once more after the first crash, it fails as
# "crashed" after the second and is left alone. And SIGKILL at random points
# of a large batch never leaves a partial thumbnail at a final name; every
# restart removes stale temporaries, and every image ends with its thumbnail.
. "$(dirname "$0")/lib.sh"

"$THUMBWATCH" --version | grep -q "test hooks" || { echo "1..0 # SKIP needs a build with --enable-test-hooks"; exit 0; }

# The poison pill (THUMBWATCH_TEST_CRASH aborts while that file is decoded),
# among innocent files that other workers decode at the same time.
for k in 1 2 3 4 5 6; do cp "$T/sample.jpg" "$T/in/good$k.jpg"; done
cp "$T/sample.jpg" "$T/in/poison.jpg"
THUMBWATCH_TEST_CRASH=poison.jpg start_daemon "$T/in" "$T/out"
wait_exit "$PID"
PID=
is "$STATUS" 134 "start 1: the poison file crashes the process (SIGABRT)"
cat "$LOG" >>"$T/log"
THUMBWATCH_TEST_CRASH=poison.jpg start_daemon "$T/in" "$T/out"
check "start 2: ready, no crash loop" wait_ready
check "the file the worker crashed on fails as crashed at once" log_has "poison.jpg' failed (crashed): thumbwatch crashed while decoding it"
check "... is remembered" grep -q crashed "$(record "$T/out" "$T/in/poison.jpg")"
goods() { [ "$(find "$T/out" -name 'good*_thumbnail.jpg' | wc -l)" -eq 6 ]; }
check "files other workers were decoding are not blamed: all six made" wait_for goods
cp "$T/sample.jpg" "$T/in/after.jpg"
check "... and the daemon stays up and works" wait_for is_file "$T/out/after_thumbnail.jpg"
kill -0 "$PID"
is "$?" 0 "still running"
stop_daemon
is "$STATUS" 0 "exit 0"

# SIGKILL at random points of a batch.
mkdir "$T/batch"
gm convert -size 1600x1200 plasma: "$T/big.jpg"
i=0; while [ $i -lt 300 ]; do cp "$T/big.jpg" "$T/batch/p$i.jpg"; i=$((i + 1)); done
valid() { # every thumbnail at a final name decodes and is not empty (one gm for them all)
	set -- "$T/batch-out"/p*_thumbnail.jpg
	[ -e "$1" ] || return 0
	[ -z "$(find "$T/batch-out" -name 'p*_thumbnail.jpg' -empty)" ] && gm identify "$@" >/dev/null 2>&1
}
made() { find "$T/batch-out" -name 'p*_thumbnail.jpg' 2>/dev/null | wc -l; }
made_at_least() { [ "$(made)" -ge "$1" ]; }
kills=0
for delay in 0.3 0.5 0.2 0.7; do
	"$THUMBWATCH" "$T/batch" "$T/batch-out" 2>>"$T/log.kill" &
	PID=$!
	# Some progress since the last kill, so that no file is in hand at two
	# kills in a row (twice interrupted is a crash, by design), then a
	# random point in the batch.
	target=$(($(made) + 10)); [ "$target" -gt 300 ] && target=300
	wait_for made_at_least "$target"
	sleep "$delay"
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null
	PID=
	kills=$((kills + 1))
	made=$(find "$T/batch-out" -name 'p*_thumbnail.jpg' | wc -l)
	check "kill $kills (after ${delay}s, $made made): no partial or empty thumbnail at a final name" valid
done
start_daemon "$T/batch" "$T/batch-out"
# The kills may have left nothing to make: the checks below could then pass
# before this daemon has blocked SIGTERM (a sanitized start is slow), and the
# stop would kill it by the signal's default action.
wait_ready
all_made() { [ "$(find "$T/batch-out" -name 'p*_thumbnail.jpg' | wc -l)" -eq 300 ]; }
WAIT_SECONDS=120
check "after $kills kills and a restart, all 300 images have their thumbnail" wait_for all_made
check "... every one of them valid" valid
is "$(temporaries "$T/batch-out")" 0 "stale temporaries were removed at start-up"
is "$(find "$T/batch-out/.thumbwatch/inflight" -type f | wc -l)" 0 "no in-flight record is left"
check "no file was failed as crashed by a kill" test -z "$(grep 'failed (crashed)' "$LOG")"
stop_daemon
is "$STATUS" 0 "exit 0"
done_testing
