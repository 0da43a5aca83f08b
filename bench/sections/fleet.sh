#!/bin/sh
# bench/sections/fleet.sh - fleet mode against queue = local on the same
# cores: the daemon's catch-up over the photos (a new output: every photo
# made) with one process and BENCH_WORKERS workers, then with a watcher and
# BENCH_WORKERS worker processes of one worker each sharing a Redis on a unix
# socket; and the queue's own rate: the same over BENCH_FLEET_FILES small
# JPEGs whose thumbnails are current (a job costs a stat), against the
# thumbnail rate. Run by bench/run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

command -v redis-server >/dev/null || "$top/scripts/deps" redis-server
photo_corpus
src=$B/photo/jpeg
n=$(find "$src" -type f | wc -l)
F=${BENCH_FLEET_FILES:-5000}
fleet=$B/fleet
rm -rf "$fleet"
mkdir -p "$fleet"
sock=$fleet/redis.sock
redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no --daemonize no >"$fleet/redis.log" 2>&1 &
RPID=$!
trap 'kill $RPID 2>/dev/null; for p in $PIDS; do kill $p 2>/dev/null; done' EXIT
PIDS=
while [ "$(redis-cli -s "$sock" PING 2>/dev/null)" != PONG ]; do sleep 0.05; done

# conf NAME ROLE QUEUE SOURCE OUTPUT WORKERS
conf() {
	printf '[thumbwatch]\nqueue = %s\nrole = %s\nworkers = %s\nlog_level = info\nlog_target = stderr\n[drop:d]\nsource = %s\noutput = %s\n' \
		"$3" "$2" "$6" "$4" "$5" >"$fleet/$1.conf"
}
# thumbs OUT: thumbnails in OUT.
thumbs() { find "$1" -name '*_thumbnail.*' | wc -l; }
# until_made OUT N: waits until OUT holds N thumbnails.
until_made() { while [ "$(thumbs "$1")" -lt "$2" ]; do sleep 0.02; done; }
# until_idle: every job acked, nothing in the stream.
until_idle() {
	while [ "$(redis-cli -s "$sock" XLEN thumbwatch:jobs)" != 0 ] ||
		[ "$(redis-cli -s "$sock" XPENDING thumbwatch:jobs workers | head -1)" != 0 ]; do sleep 0.02; done
}
start() { "$TW" --config "$fleet/$1.conf" 2>>"$fleet/$1.log" & PIDS="$PIDS $!"; }
stop_all() { for p in $PIDS; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; PIDS=; }

# local SOURCE OUT N: seconds from start to N thumbnails, one process.
run_local() {
	rm -rf "$2"; mkdir -p "$2"
	conf local all local "$1" "$2" "$W"
	s=$(now)
	start local
	until_made "$2" "$3"
	t=$(echo "$(now) - $s" | bc -l)
	stop_all
	echo "$t"
}
# run_fleet SOURCE OUT N [noop]: the same with a watcher and W workers of
# one thread each; with noop the outputs are kept (jobs of current files).
run_fleet() {
	[ "${4:-}" = noop ] || { rm -rf "$2"; mkdir -p "$2"; }
	conf watcher watcher "unix://$sock" "$1" "$2" 1
	conf worker worker "unix://$sock" "$1" "$2" 1
	for _ in $(seq "$W"); do start worker; done
	sleep 0.5
	s=$(now)
	start watcher
	if [ "${4:-}" = noop ]; then
		until grep -q "caught up" "$fleet/watcher.log" 2>/dev/null; do sleep 0.02; done
		until_idle
	else
		until_made "$2" "$3"
	fi
	t=$(echo "$(now) - $s" | bc -l)
	stop_all
	: >"$fleet/watcher.log"
	echo "$t"
}
bestof() { # CMD...
	b=
	for _ in $(seq "$RUNS"); do
		t=$("$@")
		if [ -z "$b" ] || lt "$t" "$b"; then b=$t; fi
	done
	echo "$b"
}

say ""
say "## Fleet mode on Redis Streams against queue = local ($(nproc) cores, $W workers)"
say ""
say "| | queue = local | watcher + $W worker processes, Redis (unix socket) | fleet / local |"
say "|---|---|---|---|"
a=$(bestof run_local "$src" "$fleet/out" "$n")
b=$(bestof run_fleet "$src" "$fleet/out" "$n")
say "| $n photos, catch-up of the daemon, images/s | $(fmt "$(echo "$n / $a" | bc -l)") | $(fmt "$(echo "$n / $b" | bc -l)") | $(ratio "$a" "$b") |"

# The queue's own rate: jobs for files whose thumbnails are current.
small=$fleet/small
mkdir -p "$small"
gm convert -size 64x48 gradient:red-blue "$fleet/s.jpg"
i=0; while [ $i -lt "$F" ]; do cp "$fleet/s.jpg" "$small/s$i.jpg"; i=$((i + 1)); done
"$TW" --once -w "$W" "$small" "$fleet/small-out" >/dev/null 2>&1 || true
once_noop() { s=$(now); "$TW" --once -w "$W" "$small" "$fleet/small-out" >/dev/null 2>&1; echo "$(now) - $s" | bc -l; }
a=$(bestof once_noop)
b=$(bestof run_fleet "$small" "$fleet/small-out" "$F" noop)
say "| $F current files, jobs/s (a stat each) | $(fmt "$(echo "$F / $a" | bc -l)") (--once) | $(fmt "$(echo "$F / $b" | bc -l)") | $(ratio "$a" "$b") |"
say ""
say "fleet / local: the fleet's rate over the local one (1.00: the same)."
rm -rf "$fleet/out" "$small" "$fleet/small-out"
