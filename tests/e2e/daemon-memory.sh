#!/bin/sh
# max_memory bounds all decodes together: four workers on eight large PNGs
# (9 megapixels, about 76 MB each to decode) under a 100 MB budget keep the
# daemon's peak RSS under the budget plus its own few MB, one decode at a
# time; an image whose decode alone needs more than the budget fails as
# too-large with the numbers, and is tried again once the budget is raised.
. "$(dirname "$0")/lib.sh"

gm convert -size 3000x3000 xc:red "$T/big.png"
mkdir "$T/in/big"
printf '[thumbwatch]\nworkers = 4\nmax_memory = 100M\n' >"$T/tw.conf"
start_daemon --config "$T/tw.conf" "$T/in" "$T/out"
check "ready, saying the budget" wait_for log_has "ready: .*max_memory 100 MB"
base=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID/status")
for i in 1 2 3 4 5 6 7 8; do cp "$T/big.png" "$T/in/big/.p$i.tmp" && mv "$T/in/big/.p$i.tmp" "$T/in/big/p$i.png"; done
all_made() { [ "$(find "$T/out/big" -name '*_thumbnail.png' 2>/dev/null | wc -l)" -eq 8 ]; }
WAIT_SECONDS=120 wait_for all_made
check "eight 9-megapixel PNGs made by four workers" all_made
peak=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID/status")
diag <<EOF
peak RSS $peak kB, $base kB before the burst
EOF
# What is not decoding memory: the process itself (base), malloc's slack.
# A sanitizer's shadow memory and quarantine are not the daemon's.
if ldd "$THUMBWATCH" | grep -q 'lib[at]san'; then
	ok "# SKIP a sanitizer build: its own memory hides the daemon's"
else
	check "peak RSS within max_memory (100 MB) and 20 MB of the daemon's own" test "$peak" -lt $((base + 120 * 1024))
fi
stop_daemon
is "$STATUS" 0 "exit 0"

# A decode larger than the whole budget: too-large, with the numbers; not waited for.
printf '[thumbwatch]\nmax_memory = 20M\n' >"$T/small.conf"
mkdir "$T/in2"
cp "$T/big.png" "$T/in2/huge.png"
"$THUMBWATCH" --config "$T/small.conf" --once "$T/in2" "$T/out2" >"$T/once.out" 2>"$T/once.err"
is "$?" 1 "a decode larger than max_memory: exit 1"
check "... too-large, with the estimate and the budget" \
	grep -q "huge.png' failed (too-large): 3000x3000 needs about [0-9]* MB to decode, more than max_memory 20 MB" "$T/once.err"
"$THUMBWATCH" --config "$T/small.conf" --once "$T/in2" "$T/out2" >"$T/once2.out" 2>&1
check "... remembered: not tried again under the same budget" grep -q "^made 0, up to date 0, failed 1" "$T/once2.out"
printf '[thumbwatch]\nmax_memory = 200M\n' >"$T/small.conf"
"$THUMBWATCH" --config "$T/small.conf" --once "$T/in2" "$T/out2" >"$T/once3.out" 2>&1
is "$?" 0 "the budget raised: tried again and made"
done_testing
