#!/bin/sh
# metrics_file with queue = local (no Redis): good and bad files dropped into
# two drops show up per drop and per failure class, the histograms count
# every thumbnail made, and the file is replaced atomically: a reader that
# reads it over and over while the daemon rewrites it never sees it half
# written. Parsed by prometheus_client's text parser.
. "$(dirname "$0")/lib.sh"

"$DEBIAN_PYTHON3" -c "import prometheus_client.parser" 2>/dev/null ||
	{ echo "1..0 # SKIP python3-prometheus-client is not installed"; exit 0; }

PROM=$T/metrics/thumbwatch.prom
mkdir "$T/metrics" "$T/in2" "$T/out2"
cat >"$T/tw.conf" <<CONF
[thumbwatch]
metrics_file = $PROM
truncated_grace = 0
[drop:photos]
source = $T/in
output = $T/out
[drop:scans.2-x]
source = $T/in2
output = $T/out2
CONF

# Every sample of the file, as "name{label=value,...} value" lines sorted;
# fails when it does not parse.
samples() {
	"$DEBIAN_PYTHON3" - "$PROM" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %g" % (s.name, labels, s.value))
PY
}
# value NAME LABELS: one sample's value, or nothing.
value() { samples 2>/dev/null | sed -n "s/^$1{$2} //p"; }
has() { [ "$(value "$1" "$2")" = "$3" ]; }
parses() { samples >/dev/null; }

start_daemon --config "$T/tw.conf"
check "ready" wait_ready
check "the metrics file is written" wait_for is_file "$PROM"
check "... and parses" parses

size=$(wc -c <"$T/sample.jpg")
cp "$T/sample.jpg" "$T/in/a.jpg"
cp "$T/sample.jpg" "$T/in/b.jpg"
cp "$T/sample.jpg" "$T/in2/c.jpg"
echo "not an image, named like one" >"$T/in/bad.jpg"
echo "not an image either" >"$T/in2/bad1.jpg"
echo "nor this" >"$T/in2/bad2.jpg"
head -c $((size / 2)) "$T/sample.jpg" >"$T/in2/cut.jpg"
check "every file is done" wait_for log_has "cut.jpg' failed (truncated)"
check "made per drop" wait_for has thumbwatch_made_total drop=photos 2
check "... in each drop" wait_for has thumbwatch_made_total drop=scans.2-x 1
check "failed by class and drop: unsupported in photos" has thumbwatch_failed_total class=unsupported,drop=photos 1
check "... unsupported in the other drop" has thumbwatch_failed_total class=unsupported,drop=scans.2-x 2
check "... truncated in the other drop" has thumbwatch_failed_total class=truncated,drop=scans.2-x 1
check "... and none truncated in photos" has thumbwatch_failed_total class=truncated,drop=photos 0
for drop in photos scans.2-x; do
	made=$(value thumbwatch_made_total drop=$drop)
	for h in latency decode; do
		is "$(value thumbwatch_${h}_seconds_count drop=$drop)" "$made" "$drop: the $h histogram's _count is the made count"
		is "$(value thumbwatch_${h}_seconds_bucket drop=$drop,le=+Inf)" "$made" "... and so is its +Inf bucket"
	done
done
check "the memory budget is a gauge with a value" [ -n "$(value thumbwatch_memory_budget_bytes '')" ]
check "watches: the two drops' folders" [ "$(value thumbwatch_watches '')" -ge 2 ]

# Atomic replacement: a reader parses the file over and over while the
# daemon rewrites it (every 5 s, and at each reload) until it has seen four
# versions of it (four inodes: each write is a rename), and fails on the
# first read that does not parse or lacks the end of the file.
"$DEBIAN_PYTHON3" - "$PROM" "$T/reader.out" <<'PY' &
import os, sys, time
from prometheus_client.parser import text_string_to_metric_families
path, out = sys.argv[1], sys.argv[2]
seen, reads, deadline = set(), 0, time.monotonic() + 60
status = "timeout"
while time.monotonic() < deadline:
    with open(path) as f:
        ino = os.fstat(f.fileno()).st_ino
        text = f.read()
    reads += 1
    try:
        names = {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}
    except Exception as e:
        status = "parse error: %s" % e
        break
    if "thumbwatch_memory_budget_bytes" not in names or not text.endswith("\n"):
        status = "cut short"
        break
    seen.add(ino)
    if len(seen) >= 4:
        status = "ok"
        break
    time.sleep(0.002)
open(out, "w").write("%s %d reads, %d versions\n" % (status, reads, len(seen)))
PY
READER=$!
reloads=0
reloaded() { [ "$(grep -c 'reloaded:' "$LOG")" -ge "$reloads" ]; }
# Reloads write the file at once: no need to wait 5 s for each version.
while running "$READER" && [ $reloads -lt 6 ]; do
	reloads=$((reloads + 1))
	kill -HUP "$PID"
	wait_for reloaded || break
done
wait_exit "$READER"
is "$(cut -d' ' -f1 "$T/reader.out")" ok "read while rewritten: every read parses, four versions seen ($(cat "$T/reader.out"))"
check "... no temporary left beside it" [ "$(ls -A "$T/metrics" | wc -l)" -eq 1 ]
check "the counters survive the reloads" has thumbwatch_made_total drop=photos 2
# A reload rescans the drops: what is current counts as up to date.
up_to_date() { [ "$(value thumbwatch_up_to_date_total drop=photos)" -ge 2 ] 2>/dev/null; }
check "... and the rescans count the current thumbnails as up to date, per drop" wait_for up_to_date

stop_daemon
is "$STATUS" 0 "exit 0"
done_testing
