#!/bin/sh
# SIGHUP re-reads the config: a broken one is refused and the old one keeps
# running; an added drop is watched, a removed one is not.
. "$(dirname "$0")/lib.sh"

mkdir "$T/in2" "$T/out2"
conf() {
	printf '[thumbwatch]\nlog_level = info\n[drop:one]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >"$T/tw.conf"
}
conf
start_daemon --config "$T/tw.conf"
check "ready" wait_ready

printf '[thumbwatch]\nworkers = lots\n' >>"$T/tw.conf"
kill -HUP "$PID"
check "a broken config on SIGHUP is refused, with file and line" wait_for log_has "tw.conf:7: \[thumbwatch\] workers 'lots'"
check "... and the old config keeps running" wait_for log_has "reload failed, still running the previous config"
cp "$T/sample.jpg" "$T/in/after-bad-reload.jpg"
check "... and keeps thumbnailing" wait_for is_file "$T/out/after-bad-reload_thumbnail.jpg"

conf
printf '[drop:two]\nsource = %s\noutput = %s\n' "$T/in2" "$T/out2" >>"$T/tw.conf"
cp "$T/sample.jpg" "$T/in2/waiting.jpg"
kill -HUP "$PID"
check "a drop added on SIGHUP: files already there are caught up" wait_for is_file "$T/out2/waiting_thumbnail.jpg"
cp "$T/sample.jpg" "$T/in2/new.jpg"
check "... and new files are watched" wait_for is_file "$T/out2/new_thumbnail.jpg"
cp "$T/sample.jpg" "$T/in/one.jpg"
check "the first drop still works" wait_for is_file "$T/out/one_thumbnail.jpg"

printf '[drop:two]\nsource = %s\noutput = %s\n' "$T/in2" "$T/out2" >"$T/tw.conf"
kill -HUP "$PID"
reloaded_twice() { [ "$(grep -c 'reloaded:' "$LOG")" -ge 2 ]; }
check "reloaded without the first drop" wait_for reloaded_twice
cp "$T/sample.jpg" "$T/in/ignored-now.jpg"
cp "$T/sample.jpg" "$T/in2/barrier.jpg"
check "barrier in the remaining drop" wait_for is_file "$T/out2/barrier_thumbnail.jpg"
check "a removed drop is no longer watched" is_gone "$T/out/ignored-now_thumbnail.jpg"

stop_daemon
is "$STATUS" 0 "exit 0"
done_testing
