#!/bin/sh
# Fleet mode: one watcher and several workers (hosts, here processes on one
# machine, each with its own config mapping the drop "photos" to its own
# output) sharing a queue on a Redis of the test's own (unix socket only,
# stopped by its PID). Every file gets its thumbnail exactly once; a worker
# killed with SIGKILL mid-job has its job done by another; the watcher killed
# and restarted, and Redis killed and restarted empty, lose nothing; a poison
# file ends in the dead letters after max_deliveries; the stream stays within
# its high-water mark; --queue-status shows it all.
. "$(dirname "$0")/lib.sh"

command -v redis-server >/dev/null || { echo "1..0 # SKIP redis-server is not installed"; exit 0; }
command -v redis-cli >/dev/null || { echo "1..0 # SKIP redis-cli is not installed"; exit 0; }
"$THUMBWATCH" --version | grep -q "test hooks" || { echo "1..0 # SKIP needs a build with --enable-test-hooks"; exit 0; }
cat >"$T/probe.conf" <<EOF
[thumbwatch]
queue = unix://$T/redis.sock
[drop:photos]
source = $T/in
output = $T/out
EOF
if ! "$THUMBWATCH" --check-config "$T/probe.conf" >/dev/null 2>"$T/probe.err"; then
	if grep -q "without Redis support" "$T/probe.err"; then
		echo "1..0 # SKIP thumbwatch is built without Redis support"
		exit 0
	fi
	cat "$T/probe.err"
	echo "1..1"; echo "not ok 1 - a fleet config loads"; exit 1
fi

SOCK=$T/redis.sock
RPID= LPID=
# The daemons of the test, by name: NAME_pid.
NAMES=
fleet_cleanup() {
	for name in $NAMES; do
		eval "p=\${${name}_pid:-}"
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	done
	[ -n "$RPID" ] && kill -KILL "$RPID" 2>/dev/null
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	cleanup
}
trap fleet_cleanup EXIT

redis_start() {
	rm -f "$SOCK"
	redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' --appendonly no \
		--daemonize no >>"$T/log.redis" 2>&1 &
	RPID=$!
	wait_for redis_up
}
redis_up() { [ "$(redis-cli -s "$SOCK" PING 2>/dev/null)" = PONG ]; }
rcli() { redis-cli -s "$SOCK" "$@"; }

# config NAME ROLE OUTPUT [EXTRA-LINE...]: $T/NAME.conf
config() {
	name=$1 role=$2 out=$3
	shift 3
	{
		echo "[thumbwatch]"
		echo "queue = unix://$SOCK"
		echo "role = $role"
		echo "workers = 2"
		echo "job_timeout = 1s"
		echo "stop_timeout = 5s"
		echo "log_level = debug"
		echo "log_target = stderr"
		for line in "$@"; do echo "$line"; done
		echo "[drop:photos]"
		echo "source = $T/in"
		echo "output = $out"
	} >"$T/$name.conf"
}
# start NAME [VAR=VALUE...]: runs the daemon of $T/NAME.conf, logging to $T/log.NAME.
start() {
	name=$1
	shift
	env "$@" "$THUMBWATCH" --config "$T/$name.conf" 2>>"$T/log.$name" &
	eval "${name}_pid=$!"
	case " $NAMES " in *" $name "*) ;; *) NAMES="$NAMES $name" ;; esac
}
pid_of() { eval "echo \${${1}_pid}"; }
# stop NAME: SIGTERM, then waits (bounded); exit status in $STATUS.
stop() {
	p=$(pid_of "$1")
	kill -TERM "$p" 2>/dev/null
	wait_exit "$p"
	eval "${1}_pid="
}
logs() { grep -q -- "$2" "$T/log.$1"; }
# thumbs N: N thumbnails named NAME_thumbnail.jpg across the workers' outputs.
count_thumbs() { find "$T"/o[0-9]* -name "$1_thumbnail.jpg" 2>/dev/null | wc -l; }
made_once() { for f in "$@"; do [ "$(count_thumbs "$f")" -eq 1 ] || return 1; done; }
is_made() { [ "$(count_thumbs "$1")" -ge 1 ]; }
queue_status() { "$THUMBWATCH" --queue-status --config "$T/w.conf" 2>&1; }

redis_start
check "redis-server of the test answers on its unix socket" redis_up

# One watcher, three workers, each with its own output.
config w watcher "$T/ow"
for k in 1 2 3; do config "w$k" worker "$T/o$k"; done
start w
check "the watcher is ready" wait_for logs w "ready:"
for k in 1 2 3; do start "w$k"; done
check "the workers are ready" wait_for logs w3 "consuming jobs"
files=
i=1; while [ $i -le 30 ]; do cp "$T/sample.jpg" "$T/in/p$i.jpg"; files="$files p$i"; i=$((i + 1)); done
# shellcheck disable=SC2086
check "30 files dropped: each has its thumbnail in exactly one worker's output" wait_for made_once $files
is "$(find "$T"/o[0-9]* -name '*_thumbnail.jpg' | wc -l)" 30 "... and nothing else was made"
check "the watcher makes no thumbnail itself" [ -z "$(find "$T/ow" -name '*.jpg')" ]
drained() { [ "$(rcli XLEN thumbwatch:jobs)" = 0 ] && [ "$(rcli XPENDING thumbwatch:jobs workers | head -1)" = 0 ]; }
check "every job was acked and deleted from the stream" wait_for drained
queue_status >"$T/status"
check "--queue-status shows the queue's length" grep -q '^length: 0$' "$T/status"
check "--queue-status shows three consumers" grep -q '^consumers: 3$' "$T/status"
check "--queue-status shows each consumer's pending jobs and idle time" \
	[ "$(grep -c '^consumer: .* pending 0 idle [0-9]*\.[0-9]*s$' "$T/status")" -eq 3 ]
check "--queue-status shows no dead letter" grep -q '^dead letters: 0$' "$T/status"
made=0
for k in 1 2 3; do
	stop "w$k"
	m=$(sed -n 's/.*stopped: made \([0-9]*\),.*/\1/p' "$T/log.w$k")
	made=$((made + ${m:-0}))
done
is "$made" 30 "the workers made 30 thumbnails together: none twice"
busy=0
for k in 1 2 3; do grep -q "stopped: made [1-9]" "$T/log.w$k" && busy=$((busy + 1)); done
check "the jobs were shared: at least two workers made some" [ "$busy" -ge 2 ]

# A worker killed with SIGKILL in the middle of a job: another takes it over.
start w1 THUMBWATCH_TEST_SLOW=slow.jpg THUMBWATCH_TEST_SLOW_MS=600000
check "worker 1 consumes again" wait_for logs w1 "consuming jobs"
cp "$T/sample.jpg" "$T/in/slow.jpg"
decoding() { grep -qs "slow.jpg" "$T"/o1/.thumbwatch/inflight/*; }
check "worker 1 is in the middle of slow.jpg" wait_for decoding
kill -KILL "$(pid_of w1)"
wait_exit "$(pid_of w1)"
w1_pid=
start w2
check "worker 2 takes the dead worker's job over" wait_for logs w2 "taking over job"
check "... and makes slow.jpg" wait_for is_file "$T/o2/slow_thumbnail.jpg"
is "$(count_thumbs slow)" 1 "slow.jpg was made once"
check "its job is acked" wait_for drained

# The watcher killed and restarted: what was dropped meanwhile is made.
kill -KILL "$(pid_of w)"
wait_exit "$(pid_of w)"
w_pid=
for k in 1 2 3; do cp "$T/sample.jpg" "$T/in/down$k.jpg"; done
start w
check "the restarted watcher's catch-up scan publishes what it missed" wait_for made_once down1 down2 down3

# Redis killed and restarted empty while files are dropped.
kill -KILL "$RPID"
wait_exit "$RPID"
RPID=
for k in 1 2 3 4; do cp "$T/sample.jpg" "$T/in/gone$k.jpg"; done
check "the watcher notices that Redis is away" wait_for logs w "cannot publish jobs"
redis_start
check "nothing dropped while Redis was away is lost once it is back" wait_for made_once gone1 gone2 gone3 gone4
check "the worker reconnected" logs w2 "connected to the queue again"
check "every job is done" wait_for drained

# The high-water mark: with no worker, the stream holds at most
# 16 x queue_size jobs plus one; the watcher falls back on rescans.
# (The watcher stops first: the rescan after Redis came back may still be
# publishing.)
stop w
check "the stream is empty before the watcher starts again" wait_for drained
stop w2
config w watcher "$T/ow" "queue_size = 2"
start w
check "the watcher with queue_size = 2 is ready" wait_for logs w "ready:"
i=1; while [ $i -le 60 ]; do cp "$T/sample.jpg" "$T/in/hw$i.jpg"; i=$((i + 1)); done
full() { [ "$(rcli XLEN thumbwatch:jobs)" -ge 32 ]; }
check "the stream fills up to its high-water mark (32)" wait_for full
check "... and the watcher waits there" wait_for logs w "high-water mark 32"
max=0
j=0; while [ $j -lt 20 ]; do
	l=$(rcli XLEN thumbwatch:jobs)
	[ "$l" -gt "$max" ] && max=$l
	j=$((j + 1))
	sleep 0.05
done
check "the stream never holds more than the mark plus one ($max)" [ "$max" -le 33 ]
start w3
hw_all() { for k in $(seq 1 60); do is_made "hw$k" || return 1; done; }
check "once a worker runs, every file held back is made" wait_for hw_all
check "... and the queue drains" wait_for drained
stop w3

# A poison file: every worker that takes it dies (THUMBWATCH_TEST_CRASH).
# After max_deliveries (2 here) deliveries it is a dead letter.
for k in 4 5 6; do config "w$k" worker "$T/o$k" "max_deliveries = 2"; done
start w4 THUMBWATCH_TEST_CRASH=poison.jpg
check "worker 4 consumes" wait_for logs w4 "consuming jobs"
cp "$T/sample.jpg" "$T/in/poison.jpg"
wait_exit "$(pid_of w4)"
w4_pid=
is "$STATUS" 134 "worker 4 crashes on the poison file (SIGABRT)"
start w5 THUMBWATCH_TEST_CRASH=poison.jpg
wait_exit "$(pid_of w5)"
w5_pid=
is "$STATUS" 134 "worker 5 takes it over and crashes too"
start w6
check "worker 6 moves it to the dead letters" wait_for logs w6 "is a dead letter (crashed): delivered 2 times"
queue_status >"$T/status"
check "--queue-status lists the dead letter: drop, path, class, host, when" \
	grep -q "^dead: drop photos path poison.jpg class crashed host .* when 20[0-9-]*T[0-9:]*Z deliveries 2$" "$T/status"
check "... and counts it" grep -q '^dead letters: 1$' "$T/status"
check "the failure memory remembers it as crashed" grep -q crashed "$(record "$T/o6" "$T/in/poison.jpg")"
is "$(count_thumbs poison)" 0 "no thumbnail of the poison file"
check "its job left the stream" wait_for drained
cp "$T/sample.jpg" "$T/in/after.jpg"
check "worker 6 goes on with the next file" wait_for is_file "$T/o6/after_thumbnail.jpg"
stop w6
is "$STATUS" 0 "worker 6 stops cleanly"
stop w
is "$STATUS" 0 "the watcher stops cleanly"

# Two workers sharing one output (two hosts mounting the same storage):
# each file made once; a worker starting does not take the other's live
# in-flight record for a crash's, nor remove its fresh temporaries (only
# old ones).
mkdir -p "$T/shared/sub"
touch "$T/shared/sub/.fresh_thumbnail.jpg.thumbwatch-AbC123"
touch -d '2 hours ago' "$T/shared/sub/.old_thumbnail.jpg.thumbwatch-XyZ789"
config s1 worker "$T/shared"
config s2 worker "$T/shared"
start s1 THUMBWATCH_TEST_SLOW=held.jpg THUMBWATCH_TEST_SLOW_MS=4000
check "worker s1 on the shared output consumes" wait_for logs s1 "consuming jobs"
check "an old temporary in the shared output is removed at start-up" is_gone "$T/shared/sub/.old_thumbnail.jpg.thumbwatch-XyZ789"
check "... a fresh one (maybe another worker's) is kept" [ -e "$T/shared/sub/.fresh_thumbnail.jpg.thumbwatch-AbC123" ]
# The default queue_size again: no rescan sends a file round twice, which
# two workers could then make at the same time.
config w watcher "$T/ow"
start w
check "the watcher's catch-up is done by worker s1" wait_for logs w "caught up"
check "... every job acked" wait_for drained
cp "$T/sample.jpg" "$T/in/held.jpg"
held() { grep -qs "held.jpg" "$T"/shared/.thumbwatch/inflight/worker-*; }
check "worker s1 is decoding held.jpg" wait_for held
start s2
check "worker s2 on the same output consumes" wait_for logs s2 "consuming jobs"
check "... leaving s1's live in-flight record alone" held
check "... and blaming no file for it" sh -c "! grep -q 'stopped abruptly' '$T/log.s2'"
i=1; while [ $i -le 10 ]; do cp "$T/sample.jpg" "$T/in/sh$i.jpg"; i=$((i + 1)); done
shared_all() { for k in 1 2 3 4 5 6 7 8 9 10; do is_file "$T/shared/sh${k}_thumbnail.jpg" || return 1; done; }
check "the two workers make every file in the shared output" wait_for shared_all
check "held.jpg is made too" wait_for is_file "$T/shared/held_thumbnail.jpg"
check "no failure is remembered for held.jpg" is_gone "$(record "$T/shared" "$T/in/held.jpg")"
check "... every job acked" wait_for drained
stop s1
stop s2
stop w
made=0
for k in 1 2; do
	m=$(sed -n 's/.*stopped: made \([0-9]*\),.*/\1/p' "$T/log.s$k")
	made=$((made + ${m:-0}))
done
is "$made" "$(find "$T/shared" -name '*_thumbnail.jpg' | wc -l)" "the two made as many thumbnails as the shared output holds: none twice"

# role = all on Redis: one process watches, publishes, consumes and makes;
# a reload keeps it going.
mkdir "$T/metrics"
config one all "$T/o7" "metrics_file = $T/metrics/thumbwatch.prom"
python3 "$(dirname "$0")/notify-listener.py" "$T/notify.sock" "$T/notify.log" &
LPID=$!
notified() { grep -q -- "$1" "$T/notify.log" 2>/dev/null; }
check "the notify listener is up" wait_for notified LISTENING
start one NOTIFY_SOCKET="$T/notify.sock"
check "role all is ready" wait_for logs one "ready:"
check "... and consumes" wait_for logs one "consuming jobs"
cp "$T/sample.jpg" "$T/in/one1.jpg"
check "role all makes what is dropped" wait_for is_file "$T/o7/one1_thumbnail.jpg"
kill -HUP "$(pid_of one)"
check "role all reloads" wait_for logs one "reloaded:"
cp "$T/sample.jpg" "$T/in/one2.jpg"
check "... and goes on after the reload" wait_for is_file "$T/o7/one2_thumbnail.jpg"
check "STATUS= adds the queue's state and the latency from publication to thumbnail" \
	wait_for notified '^STATUS=queued [0-9]*, made [0-9]*, .*, queue redis connected, length [0-9]*, pending [0-9]*, latency p50 [0-9]* ms, p99 [0-9]* ms$'
check "... with every job acked" wait_for drained
# metrics_file: Prometheus text, parsed by prometheus_client's parser.
metrics_ok() {
	"$DEBIAN_PYTHON3" - "$T/metrics/thumbwatch.prom" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
samples = {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for sample in family.samples:
        samples[sample.name] = samples.get(sample.name, 0) + sample.value
sys.exit(0 if samples.get("thumbwatch_made_total", 0) >= 2 and samples.get("thumbwatch_queue_connected") == 1
         and samples.get("thumbwatch_latency_seconds_count", 0) >= 2
         and "thumbwatch_queue_length" in samples and "thumbwatch_memory_budget_bytes" in samples else 1)
PY
}
if "$DEBIAN_PYTHON3" -c "import prometheus_client.parser" 2>/dev/null; then
	check "metrics_file parses as Prometheus text, with what was made and the queue's state" wait_for metrics_ok
else
	ok "# SKIP python3-prometheus-client is not installed"
fi
check "... and no temporary is left beside it" [ "$(ls -A "$T/metrics" | wc -l)" -eq 1 ]
stop one
is "$STATUS" 0 "role all stops cleanly"

# Errors: --queue-status of a local queue, a worker without a Redis queue, Redis away.
config local all "$T/o9"
sed -i "s|^queue = .*|queue = local|" "$T/local.conf"
"$THUMBWATCH" --queue-status --config "$T/local.conf" >/dev/null 2>"$T/err"
is "$?" 2 "--queue-status of queue = local: exit 2"
check "... saying there is no shared queue" grep -q "no shared queue" "$T/err"
"$THUMBWATCH" --config "$T/local.conf" --role worker --check-config >/dev/null 2>"$T/err"
is "$?" 2 "--role worker with queue = local: exit 2"
check "... saying it needs a Redis queue" grep -q "needs a Redis queue" "$T/err"
kill -KILL "$RPID"
wait_exit "$RPID"
RPID=
"$THUMBWATCH" --queue-status --config "$T/w.conf" >/dev/null 2>"$T/err"
is "$?" 1 "--queue-status with Redis away: exit 1"
check "... saying it cannot connect" grep -q "cannot connect to unix://" "$T/err"

for f in "$T"/log.*; do cat "$f" >>"$T/log"; done
done_testing
