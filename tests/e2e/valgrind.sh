#!/bin/sh
# The basic scenarios under valgrind: --once over a small tree, and the daemon
# making a thumbnail, failing a bad file, reloading and stopping. Any memory
# error or definite leak fails the test.
. "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null || { echo "1..0 # SKIP valgrind is not installed"; exit 0; }
if ldd "$THUMBWATCH" | grep -q 'lib[at]san'; then
	echo "1..0 # SKIP a sanitizer build: valgrind cannot run it"
	exit 0
fi
VG="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --track-fds=no"
# valgrind 3.19 cannot read the DWARF 5 that clang 14 writes, and gives up.
$VG "$THUMBWATCH" --version >"$T/vg-version" 2>&1
grep -q "^thumbwatch [0-9]" "$T/vg-version" ||
	{ echo "1..0 # SKIP valgrind cannot run this binary: $(grep -m1 -i 'valgrind' "$T/vg-version")"; exit 0; }

mkdir -p "$T/in/a"
gm convert -size 300x200 plasma: "$T/in/a/one.jpg"
gm convert -size 100x300 xc:blue "$T/in/two.png"
echo "no image" >"$T/in/bad.jpg"
$VG "$THUMBWATCH" --once "$T/in" "$T/out" >"$T/once.out" 2>"$T/once.err"
is "$?" 1 "--once under valgrind: exit 1 (one bad file), no memory error (which would be 99)"
check "... it ran to its summary" grep -q "^made 2, up to date 0, failed 1" "$T/once.out"
check "... and the thumbnails are made" test -s "$T/out/a/one_thumbnail.jpg" -a -s "$T/out/two_thumbnail.png"
grep -v "failed (unsupported)" "$T/once.err" | diag

LOG=$T/log.vg
$VG "$THUMBWATCH" --log-level info "$T/in" "$T/out2" 2>"$LOG" &
PID=$!
WAIT_SECONDS=120
check "the daemon under valgrind gets ready" wait_for log_has "ready:"
check "... catches up" wait_for is_file "$T/out2/a/one_thumbnail.jpg"
cp "$T/sample.jpg" "$T/in/new.jpg"
check "... makes a new file's thumbnail" wait_for is_file "$T/out2/new_thumbnail.jpg"
kill -HUP "$PID"
check "... reloads" wait_for log_has "reloaded:"
stop_daemon
is "$STATUS" 0 "... and stops with exit 0: no memory error, no definite leak"
grep -E '^==[0-9]+==' "$T/log" | diag
done_testing
