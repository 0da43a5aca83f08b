#!/bin/sh
# SIGHUP re-reads the config: a broken one is refused and the old one keeps
# running; an added drop is watched, a removed one is not; workers and
# queue_size resize the running pool and queue.
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

# The daemon's threads: the workers plus main, the watcher and the scanner
# (and whatever a sanitizer runs), so only differences are compared.
tasks() { ls "/proc/$PID/task" | wc -l; }
has_tasks() { [ "$(tasks)" -eq "$1" ]; }
conf2() {
	printf '[thumbwatch]\nworkers = %s\nqueue_size = %s\n[drop:two]\nsource = %s\noutput = %s\n' \
		"$1" "$2" "$T/in2" "$T/out2" >"$T/tw.conf"
}
cpus=$(getconf _NPROCESSORS_ONLN)        # what workers = auto means
more=$((cpus + 2))
before=$(tasks)
conf2 "$more" 16
kill -HUP "$PID"
check "more workers and a smaller queue on SIGHUP: logged" \
	wait_for log_has "workers $cpus -> $more, queue_size 256 -> 16"
check "... and two more threads run" wait_for has_tasks $((before + 2))
cp "$T/sample.jpg" "$T/in2/grown.jpg"
check "... and files dropped afterwards are made" wait_for is_file "$T/out2/grown_thumbnail.jpg"

conf2 1 16
kill -HUP "$PID"
check "one worker on SIGHUP: logged" wait_for log_has "workers $more -> 1, queue_size 16 -> 16"
check "... and the surplus threads exit" wait_for has_tasks $((before + 2 - more + 1))
for i in 1 2 3 4 5; do cp "$T/sample.jpg" "$T/in2/shrunk$i.jpg"; done
made_all() { for i in 1 2 3 4 5; do is_file "$T/out2/shrunk${i}_thumbnail.jpg" || return 1; done; }
check "... and files dropped afterwards are made" wait_for made_all
check "a reload that changes neither says nothing of them" \
	[ "$(grep -c 'queue_size .* -> ' "$LOG")" -eq 2 ]

stop_daemon
is "$STATUS" 0 "exit 0"
done_testing
