#!/bin/sh
# A real journal: journald started in a private mount namespace, the daemon
# logging to it, and the structured fields read back with journalctl: a file
# made, a file failed with its class, an overflow, a reload.
. "$(dirname "$0")/lib.sh"

JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] && command -v journalctl >/dev/null || { echo "1..0 # SKIP systemd-journald is not installed"; exit 0; }
unshare -m true 2>/dev/null || { echo "1..0 # SKIP unshare -m is refused here"; exit 0; }
q=/proc/sys/fs/inotify/max_queued_events
[ -w "$q" ] || { echo "1..0 # SKIP needs root (fs.inotify.max_queued_events) to force an overflow"; exit 0; }

gm convert -size 64x48 xc:orange "$T/tiny.jpg"
echo "not an image" >"$T/bad.jpg"
cat >"$T/inner.sh" <<INNER
set -u
mkdir -p /run/systemd/journal /run/log
mount -t tmpfs tmpfs /run/systemd/journal && mount -t tmpfs tmpfs /run/log || exit 3
$JOURNALD >"$T/journald.log" 2>&1 &
J=\$!
i=0; while [ ! -S /run/systemd/journal/socket ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i + 1)); done
old=\$(cat $q)
echo 64 >$q
"$THUMBWATCH" --log-target journal --log-level debug "$T/in" "$T/out" 2>"$T/stderr" &
D=\$!
logged() { journalctl -D /run/log/journal -o cat --no-pager _COMM=thumbwatch 2>/dev/null | grep -q "\$1"; }
i=0; while ! logged "ready:" && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i + 1)); done
echo "\$old" >$q
cp "$T/tiny.jpg" "$T/in/good.jpg"
cp "$T/bad.jpg" "$T/in/bad.jpg"
i=0; while [ ! -s "$T/out/good_thumbnail.jpg" ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i + 1)); done
# Frozen while files land: the 64-event queue overflows.
kill -STOP \$D
for n in \$(seq 1 100); do cp "$T/tiny.jpg" "$T/in/burst\$n.jpg"; done
kill -CONT \$D
i=0; while [ \$(ls "$T/out" | wc -l) -lt 101 ] && [ \$i -lt 400 ]; do sleep 0.05; i=\$((i + 1)); done
kill -HUP \$D
i=0; while ! logged "reloaded:" && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i + 1)); done
kill -TERM \$D
wait \$D
journalctl -D /run/log/journal -o json --no-pager _COMM=thumbwatch >"$T/journal.json"
kill \$J
wait \$J
INNER
unshare -m sh "$T/inner.sh"
is "$?" 0 "journald and the daemon ran in a private mount namespace"
check "the daemon wrote nothing to stderr (all went to the journal)" test ! -s "$T/stderr"
field() { # KEY=VALUE ... : a record with all of these fields exists
	python3 - "$T/journal.json" "$@" <<'PY'
import json, sys
want = [a.split("=", 1) for a in sys.argv[2:]]
for line in open(sys.argv[1]):
    r = json.loads(line)
    if all(k in r and (v == "*" or str(r[k]).endswith(v)) for k, v in want):
        sys.exit(0)
sys.exit(1)
PY
}
check "a made file: MESSAGE_ID, THUMBWATCH_SOURCE, OUTPUT, DURATION_US" \
	field MESSAGE_ID=* "THUMBWATCH_SOURCE=/in/good.jpg" "THUMBWATCH_OUTPUT=/out" THUMBWATCH_DURATION_US=* PRIORITY=7
check "a failed file: THUMBWATCH_ERROR=unsupported, with the source" \
	field "THUMBWATCH_SOURCE=/in/bad.jpg" THUMBWATCH_ERROR=unsupported PRIORITY=3 MESSAGE_ID=*
check "an overflow, with its MESSAGE_ID" field MESSAGE_ID=* "MESSAGE=(raise fs.inotify.max_queued_events to make this rarer)" PRIORITY=4
check "a reload, with its MESSAGE_ID" field MESSAGE_ID=* "MESSAGE=folders watched 1" PRIORITY=6
check "the caller's location is recorded, not log.c's" field CODE_FILE=job.c CODE_FUNC=made
done_testing
