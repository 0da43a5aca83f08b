#!/bin/sh
# The bad-input corpus (tests/bad-corpus.py, made here, no downloads) through
# --once and through the live daemon: every bad file fails with its class and
# path in the log, no payload of a refused format ever runs, every good one is
# made (orientation checked on pixels), nothing partial is left, and the
# daemon keeps running. Prints the bomb's refusal time and peak RSS.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed to make the corpus"; exit 0; }
CORPUS=$TOP_SRCDIR/tests/bad-corpus.py
python3 "$CORPUS" make "$T/corpus" "$T/manifest.json" >/dev/null || { echo "Bail out! cannot make the corpus"; exit 1; }

# --once
"$THUMBWATCH" --once "$T/corpus" "$T/out-once" >"$T/summary" 2>"$T/log-once"
is "$?" 1 "--once over the corpus: exit 1 (some files failed)"
python3 "$CORPUS" check "$T/corpus" "$T/out-once" "$T/log-once" "$T/manifest.json" | sed 's/^\(not \)\{0,1\}ok [0-9]* - /&once: /' >"$T/tap-once"
while IFS= read -r line; do
	case "$line" in
	"ok "*) ok "${line#ok * - }" ;;
	"not ok "*) fail "${line#not ok * - }" ;;
	esac
done <"$T/tap-once"
diag "$T/summary"

# The bomb alone: how long its refusal takes.
mkdir "$T/bomb"
cp "$T/corpus/bomb.png" "$T/bomb/"
start=$(date +%s%N)
"$THUMBWATCH" --once "$T/bomb" "$T/out-bomb" >/dev/null 2>&1
end=$(date +%s%N)
echo "#   a 60000x60000 PNG bomb ($(wc -c <"$T/bomb/bomb.png") bytes) refused by --once in $(( (end - start) / 1000000 )) ms, process start included"

# The live daemon: the whole corpus copied in at once.
printf '[thumbwatch]\ntruncated_grace = 0\n[drop:bad]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >"$T/tw.conf"
start_daemon --config "$T/tw.conf"
check "daemon ready" wait_ready
cp -r "$T/corpus/." "$T/in/"
all_outcomes() { python3 "$CORPUS" check "$T/in" "$T/out" "$LOG" "$T/manifest.json" --wait; }
check "daemon: every case reaches its outcome" wait_for all_outcomes
check "daemon: still running after the corpus" kill -0 "$PID"
python3 "$CORPUS" check "$T/in" "$T/out" "$LOG" "$T/manifest.json" >"$T/tap-daemon"
while IFS= read -r line; do
	case "$line" in
	"ok "*) ok "daemon: ${line#ok * - }" ;;
	"not ok "*) fail "daemon: ${line#not ok * - }" ;;
	esac
done <"$T/tap-daemon"
echo "#   daemon peak RSS over the corpus: $(grep VmHWM /proc/"$PID"/status | tr -s ' ' | cut -d' ' -f2-)"
cp "$T/sample.jpg" "$T/in/after.jpg"
check "daemon: still thumbnailing after the corpus" wait_for is_file "$T/out/after_thumbnail.jpg"
stop_daemon
is "$STATUS" 0 "daemon: exit 0"
echo "#   corpus cases: $(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$T/manifest.json")"
done_testing
