#!/bin/sh
# bench/sections/scale.sh - the daemon on large trees: 10,000 and 100,000
# folders (and 1,000,000 with BENCH_MILLION=1), 32 folders per parent, no
# images. For each: time to ready and to caught up, RSS once caught up, and
# the watcher thread's CPU per renamed and per deleted folder (BENCH_SCALE_OPS
# operations each, 200 by default, on folders with two sub-folders each, in
# the middle of the tree). The trees are made once under $BENCH_DIR and
# reused. fs.inotify.max_user_watches is raised for the run (root) and
# restored. Run by bench/run; BENCH_THUMBWATCH runs another binary (the
# figures of an older commit, say).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
TW=${BENCH_THUMBWATCH:-$TW}
ops=${BENCH_SCALE_OPS:-200}
sizes="10000 100000"
[ "${BENCH_MILLION:-0}" = 1 ] && sizes="$sizes 1000000"

limit=/proc/sys/fs/inotify/max_user_watches
old_limit=$(cat "$limit")
restore() { echo "$old_limit" >"$limit" 2>/dev/null || true; }
trap restore EXIT INT TERM
if ! echo 2200000 >"$limit" 2>/dev/null; then
	echo "bench/run: scale: cannot raise $limit (not root?): skipped" >&2
	exit 0
fi

# make_tree N: $B/scale/N holds N folders (its root included), 32 a parent,
# breadth first, made once.
make_tree() {
	[ -f "$B/scale/$1.done" ] && return 0
	rm -rf "$B/scale/$1"
	mkdir -p "$B/scale"
	$PY - "$B/scale/$1" "$1" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
paths = [root]
os.mkdir(root)
for i in range(1, n):
    p = '%s/d%d' % (paths[(i - 1) // 32], i)
    os.mkdir(p)
    paths.append(p)
EOF
	touch "$B/scale/$1.done"
}

# watcher_ticks: utime + stime of the watcher thread (named tw-watcher; for
# an older binary, whose threads are not named, the busiest thread since
# the last call of thread_snapshot).
thread_snapshot() {
	for t in /proc/"$DPID"/task/*; do
		echo "${t##*/} $(awk '{ print $14 + $15 }' "$t/stat")"
	done >"$B/threads.$1"
}
watcher_ticks() { # SNAPSHOT-BEFORE SNAPSHOT-AFTER: the watcher's ticks between them
	named=$(grep -l '^tw-watcher$' /proc/"$DPID"/task/*/comm 2>/dev/null | head -n 1 | cut -d/ -f5)
	awk -v named="${named:-}" 'NR == FNR { a[$1] = $2; next }
		{ d = $2 - a[$1]; if (named != "" ? $1 == named : d > best) best = d }
		END { print best + 0 }' "$B/threads.$1" "$B/threads.$2"
}
# Waits until the daemon's CPU stands still for a second: the events are handled.
settle() {
	prev=-1
	while :; do
		c=$(cpu_ticks)
		[ "$c" = "$prev" ] && return 0
		prev=$c
		sleep 1
	done
}
ms_per() { # TICKS COUNT
	echo "scale=3; $1 * 1000 / $(getconf CLK_TCK) / $2" | bc -l | sed 's/^\./0./'
}

say ""
say "## Large trees (bench/sections/scale.sh: $ops operations each, 2 workers, $(basename "$TW") $("$TW" --version | head -n 1))"
say ""
say "| folders | ready (s) | caught up (s) | RSS (MB) | watcher CPU per renamed folder (ms) | per deleted folder (ms) |"
say "|---|---|---|---|---|---|"
for n in $sizes; do
	make_tree "$n"
	# The folders the operations use: ops folders with two sub-folders
	# each, below a folder in the middle of the tree.
	mid=$B/scale/$n/d1/d33
	rm -rf "$mid"/ops "$B/scale-out"
	mkdir -p "$B/scale-out"
	sync
	# Emptied here: the daemon's shell truncates it only once started,
	# and the previous size's "ready:" would be read meanwhile.
	: >"$B/daemon.log"
	s=$(now)
	daemon_start -w "$W" "$B/scale/$n" "$B/scale-out"
	wait_log "ready:" 3600
	ready=$(echo "$(now) - $s" | bc -l)
	wait_log "caught up in" 3600
	caught=$(echo "$(now) - $s" | bc -l)
	settle
	rss=$(status_kb VmRSS)

	mkdir "$mid/ops"
	for i in $(seq "$ops"); do mkdir -p "$mid/ops/f$i/a" "$mid/ops/f$i/b"; done
	settle
	thread_snapshot 0
	for i in $(seq "$ops"); do mv "$mid/ops/f$i" "$mid/ops/g$i"; done
	settle
	thread_snapshot 1
	ren=$(watcher_ticks 0 1)
	for i in $(seq "$ops"); do rm -r "$mid/ops/g$i"; done
	settle
	thread_snapshot 2
	del=$(watcher_ticks 1 2)
	daemon_stop
	rmdir "$mid/ops"
	# A rename moves one folder (its sub-folders follow it); a delete
	# removes three.
	say "| $n | $(fmt "$ready") | $(fmt "$caught") | $((rss / 1024)) | $(ms_per "$ren" "$ops") | $(ms_per "$del" $((ops * 3))) |"
done
