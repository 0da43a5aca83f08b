#!/bin/sh
# Folders deeper than PATH_MAX: named at warning level and counted as a
# failure (--once exits 1), never skipped without a word; what fits is made.
. "$(dirname "$0")/lib.sh"

long=$(printf '%0200d' 0 | tr 0 d)      # a 200-byte folder name
# 22 levels of 201 bytes: the bottom is past 4096 bytes (made by relative
# steps: no shell can cd to a path that long).
python3 - "$T/in" "$long" "$T/sample.jpg" <<'PY' || { fail "making a tree deeper than PATH_MAX"; done_testing; exit; }
import os, shutil, sys
os.chdir(sys.argv[1])
for i in range(1, 23):
    os.mkdir(sys.argv[2])
    os.chdir(sys.argv[2])
    if i == 5:
        shutil.copyfile(sys.argv[3], "shallow.jpg")
shutil.copyfile(sys.argv[3], "deep.jpg")
PY
cp "$T/sample.jpg" "$T/in/top.jpg"

"$THUMBWATCH" --once "$T/in" "$T/out" >"$T/once.out" 2>"$T/once.err"
is "$?" 1 "--once on a tree deeper than PATH_MAX: exit 1"
check "... the folder that is too deep is named, at warning level" \
	grep -q "warning: '$T/in/.*' is too deep: its path is [0-9]* bytes, over PATH_MAX (4096); it and the folders below it are not scanned or watched" "$T/once.err"
check "... what fits is made" test -s "$T/out/top_thumbnail.jpg"
check "... deep enough, but within PATH_MAX, too" test -n "$(find "$T/out" -name shallow_thumbnail.jpg)"

start_daemon "$T/in" "$T/out2"
check "the daemon is ready" wait_ready
check "... and names the folder that is too deep" wait_for log_has "is too deep: its path is"
stop_daemon
is "$STATUS" 0 "exit 0"
done_testing
