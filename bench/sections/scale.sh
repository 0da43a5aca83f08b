#!/bin/sh
# bench/sections/scale.sh - the daemon on large trees: 10,000 and 100,000
# folders (and 1,000,000 with BENCH_MILLION=1; BENCH_SCALE_SIZES picks the
# sizes instead), 32 folders per parent, no images, in each watcher mode
# (BENCH_SCALE_MODES, "inotify fanotify" by default; fanotify is skipped,
# saying why, where `thumbwatch --check-config --watcher fanotify` fails).
# For each: time to ready and to caught up, RSS once caught up, the kernel
# memory the daemon's watches take per folder (Slab and SUnreclaim of
# /proc/meminfo, and the objects of the slab cache inotify's marks come from,
# read before the start and once ready), and the watcher thread's CPU per
# renamed and per deleted folder (BENCH_SCALE_OPS operations each, 200 by
# default, on folders with two sub-folders each, in the middle of the tree).
# The CPU is the scheduler's count of the thread's run time (schedstat).
# BENCH_SCALE_RUNS (1) runs of each size, the modes taking turns.
#
# The trees are made once and reused, on an ext4 image of their own
# ($B/scale.img, loop-mounted on $B/scale-fs for the run; BENCH_SCALE_IMAGE=0
# puts them in $B/scale instead): a fanotify mark covers a whole file system,
# and on a shared one every other process's files would be the watcher's
# events too. Before each daemon start the tree is walked once (page cache
# warm). At the first size of the first run, each mode is also run once at
# --log-level debug with BENCH_SCALE_CHECK_OPS (20) operations, and the events
# the watcher logged are counted: the CPU figures are those of events that
# were seen. The figures go to $R and to $B/results/scale.dat (started
# afresh; BENCH_SCALE_KEEP=1 appends to it), plotted by bench/scale-plot into
# $B/results/scale.svg (when gnuplot is there).
# fs.inotify.max_user_watches is raised for the run and restored. Needs
# root. Run by bench/run; BENCH_THUMBWATCH runs another binary.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
TW=${BENCH_THUMBWATCH:-$TW}
ops=${BENCH_SCALE_OPS:-200}
check_ops=${BENCH_SCALE_CHECK_OPS:-20}
runs=${BENCH_SCALE_RUNS:-1}
modes=${BENCH_SCALE_MODES:-inotify fanotify}
sizes="10000 100000"
[ "${BENCH_MILLION:-0}" = 1 ] && sizes="$sizes 1000000"
sizes=${BENCH_SCALE_SIZES:-$sizes}
for m in $modes; do
	case $m in
	inotify | fanotify) ;;
	*)
		echo "bench/run: scale: BENCH_SCALE_MODES: '$m' is neither inotify nor fanotify" >&2
		exit 2
		;;
	esac
done
for n in $sizes; do
	case $n in
	'' | *[!0-9]* | 0*)
		echo "bench/run: scale: BENCH_SCALE_SIZES: '$n' is not a number of folders" >&2
		exit 2
		;;
	esac
done

limit=/proc/sys/fs/inotify/max_user_watches
old_limit=$(cat "$limit")
loopdev=
DPID=
cleanup() {
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID"
		wait "$DPID" || true
	fi
	echo "$old_limit" >"$limit" 2>/dev/null || true
	if [ -n "$loopdev" ]; then
		umount "$B/scale-fs" || true
		losetup -d "$loopdev" || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! echo 2200000 >"$limit" 2>/dev/null; then
	echo "bench/run: scale: cannot raise $limit (not root?): skipped" >&2
	exit 0
fi

# Where the trees are: an ext4 image of their own, or $B/scale.
top_dir=$B/scale
where="$B/scale, on the file system of $B"
if [ "${BENCH_SCALE_IMAGE:-1}" = 1 ]; then
	mkdir -p "$B/scale-fs"
	if mountpoint -q "$B/scale-fs"; then
		top_dir=$B/scale-fs
	else
		# Sparse: 1,110,000 folders take about 4.5 GB of it.
		if [ ! -f "$B/scale.img" ]; then
			truncate -s 12G "$B/scale.img"
			mkfs.ext4 -q -F -N 1400000 -L twscale "$B/scale.img"
		fi
		# Direct I/O: the image's blocks are not cached twice.
		if loopdev=$(losetup -f --show --direct-io=on "$B/scale.img") &&
			mount "$loopdev" "$B/scale-fs"; then
			top_dir=$B/scale-fs
		else
			[ -n "$loopdev" ] && losetup -d "$loopdev"
			loopdev=
			echo "bench/run: scale: cannot mount $B/scale.img: the trees are in $B/scale" >&2
		fi
	fi
	[ "$top_dir" = "$B/scale-fs" ] && where="an ext4 image of their own ($B/scale.img)"
fi

# make_tree N: $top_dir/N holds N folders (its root included), 32 a
# parent, breadth first, made once.
make_tree() {
	[ -f "$top_dir/$1.done" ] && return 0
	rm -rf "${top_dir:?}/$1"
	mkdir -p "$top_dir"
	$PY - "$top_dir/$1" "$1" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
paths = [root]
os.mkdir(root)
for i in range(1, n):
    p = '%s/d%d' % (paths[(i - 1) // 32], i)
    os.mkdir(p)
    paths.append(p)
EOF
	touch "$top_dir/$1.done"
}

# The watcher thread's CPU time in ns: the first field of its
# /proc/PID/task/TID/schedstat (the scheduler's own count, where a clock
# tick, 10 ms, would be 0.05 ms per operation at 200 operations), or its
# utime + stime in ticks where there is no schedstat. The thread is named
# tw-watcher; for an older binary, whose threads are not named, the busiest
# thread since the last call of thread_snapshot.
hz=$(getconf CLK_TCK)
thread_snapshot() {
	for t in /proc/"$DPID"/task/*; do
		if ns=$(cut -d' ' -f1 "$t/schedstat" 2>/dev/null) && [ -n "$ns" ]; then
			echo "${t##*/} $ns"
		else
			echo "${t##*/} $(awk -v hz="$hz" '{ printf "%.0f", ($14 + $15) * 1e9 / hz }' "$t/stat")"
		fi
	done >"$B/threads.$1"
}
watcher_ns() { # SNAPSHOT-BEFORE SNAPSHOT-AFTER: the watcher's ns between them
	named=$(grep -l '^tw-watcher$' /proc/"$DPID"/task/*/comm 2>/dev/null | head -n 1 | cut -d/ -f5)
	awk -v named="${named:-}" 'NR == FNR { a[$1] = $2; next }
		{ d = $2 - a[$1]; if (named != "" ? $1 == named : d > best) best = d }
		END { printf "%.0f\n", best + 0 }' "$B/threads.$1" "$B/threads.$2"
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
ms_per() { # NS COUNT
	echo "scale=4; $1 / 1000000 / $2" | bc -l | sed 's/^\./0./'
}
# kmem: Slab and SUnreclaim of /proc/meminfo (kB), and the objects in use in
# the slab cache inotify's marks come from ("-" where /sys/kernel/slab is
# not there). The cache is often merged with others of the same size, so
# its count moves with theirs too.
kmem() {
	marks=$(cut -d' ' -f1 /sys/kernel/slab/inotify_inode_mark/objects 2>/dev/null) || marks=-
	awk -v marks="$marks" '$1 == "Slab:" { s = $2 } $1 == "SUnreclaim:" { u = $2 }
		END { print s, u, marks }' /proc/meminfo
}
per_folder() { # BEFORE AFTER N: kB grown, in bytes per folder
	echo "scale=0; ($2 - $1) * 1024 / $3" | bc -l
}
# start MODE N [ARGS]: the daemon on tree N in MODE, its log emptied first
# (the daemon's shell truncates it only once started, and the previous
# run's "ready:" would be read meanwhile).
start() {
	mode=$1 tree=$top_dir/$2
	shift 2
	rm -rf "$B/scale-out"
	mkdir -p "$B/scale-out"
	: >"$B/daemon.log"
	daemon_start --watcher "$mode" -w "$W" "$@" "$tree" "$B/scale-out"
}
# make_ops DIR COUNT: COUNT folders with two sub-folders each.
make_ops() {
	mkdir "$1"
	for i in $(seq "$2"); do mkdir -p "$1/f$i/a" "$1/f$i/b"; done
}

# check_events MODE N: the operations at --log-level debug, and what the
# watcher logged of them.
check_events() {
	mid=$top_dir/$2/d1/d33
	rm -rf "$mid/ops"
	start "$1" "$2" --log-level debug
	wait_log "caught up in" 3600
	settle
	make_ops "$mid/ops" "$check_ops"
	settle
	for i in $(seq "$check_ops"); do mv "$mid/ops/f$i" "$mid/ops/g$i"; done
	settle
	for i in $(seq "$check_ops"); do rm -r "$mid/ops/g$i"; done
	settle
	daemon_stop
	DPID=
	rmdir "$mid/ops"
	from=$(grep -c "event MOVED_FROM,ISDIR on '$mid/ops/f[0-9]*'" "$DLOG") || true
	to=$(grep -c "event MOVED_TO,ISDIR on '$mid/ops/g[0-9]*'" "$DLOG") || true
	gone=$(grep -c "event DELETE,ISDIR on '$mid/ops/g[0-9]*'" "$DLOG") || true
	sub=$(grep -c "event DELETE,ISDIR on '$mid/ops/g[0-9]*/[ab]'" "$DLOG") || true
	ok=": all"
	if [ "$from" != "$check_ops" ] || [ "$to" != "$check_ops" ] || [ "$gone" != "$check_ops" ]; then
		ok=": **some missing**"
	elif [ "$sub" != $((check_ops * 2)) ]; then
		ok=": all of the renames and deleted folders, $sub of their $((check_ops * 2)) sub-folders"
	fi
	echo "- $1: of $check_ops renames and $check_ops deleted folders with $((check_ops * 2)) sub-folders, the" \
		"watcher logged $from MOVED_FROM, $to MOVED_TO, $gone DELETE of the folders and $sub of the sub-folders$ok" \
		>>"$B/scale-notes"
}

# Which modes can be had here.
run_modes=
: >"$B/scale-notes"
make_tree 10000
for m in $modes; do
	if [ "$m" = fanotify ] && ! "$TW" --check-config --watcher fanotify "$top_dir/10000" "$B/scale-out" \
		>/dev/null 2>"$B/scale-check"; then
		echo "bench/run: scale: watcher = fanotify cannot be had here: skipped:" >&2
		cat "$B/scale-check" >&2
		echo "- fanotify skipped: $(tr '\n' ' ' <"$B/scale-check")" >>"$B/scale-notes"
		continue
	fi
	run_modes="$run_modes $m"
done

dat=$B/results/scale.dat
if [ "${BENCH_SCALE_KEEP:-0}" != 1 ] || [ ! -f "$dat" ]; then
	echo "# mode folders ms_per_renamed ms_per_deleted ready_s caught_up_s rss_mb slab_b sunreclaim_b marks_per_folder load1" >"$dat"
fi

say ""
say "## Large trees (bench/sections/scale.sh: $ops operations each, $W workers, $(basename "$TW") $("$TW" --version | head -n 1))"
say ""
say "Trees on $where, $runs run(s) of each size, the modes taking turns."
say ""
say "| folders | watcher | ready (s) | caught up (s) | RSS (MB) | Slab per folder (B) | SUnreclaim per folder (B) | mark-cache objects per folder | watcher CPU per renamed folder (ms) | per deleted folder (ms) | load average at the start |"
say "|---|---|---|---|---|---|---|---|---|---|---|"
first=1
for n in $sizes; do
	make_tree "$n"
	mid=$top_dir/$n/d1/d33
	for run in $(seq "$runs"); do
		for m in $run_modes; do
			if [ "$first" = 1 ]; then
				check_events "$m" "$n"
			fi
			rm -rf "$mid/ops"
			# The tree in the page cache, its writes on disk.
			find "$top_dir/$n" -type d | wc -l >/dev/null
			sync
			load=$(cut -d' ' -f1-3 /proc/loadavg)
			k0=$(kmem)
			s=$(now)
			start "$m" "$n"
			wait_log "ready:" 3600
			ready=$(echo "$(now) - $s" | bc -l)
			k1=$(kmem)
			wait_log "caught up in" 3600
			caught=$(echo "$(now) - $s" | bc -l)
			settle
			rss=$(status_kb VmRSS)
			watched=$(grep -o 'ready: .*' "$DLOG" | sed 's/, workers.*//')

			make_ops "$mid/ops" "$ops"
			settle
			thread_snapshot 0
			for i in $(seq "$ops"); do mv "$mid/ops/f$i" "$mid/ops/g$i"; done
			settle
			thread_snapshot 1
			ren=$(watcher_ns 0 1)
			for i in $(seq "$ops"); do rm -r "$mid/ops/g$i"; done
			settle
			thread_snapshot 2
			del=$(watcher_ns 1 2)
			daemon_stop
			DPID=
			rmdir "$mid/ops"

			# shellcheck disable=SC2086
			set -- $k0 $k1
			slab=$(per_folder "$1" "$4" "$n")
			unrecl=$(per_folder "$2" "$5" "$n")
			if [ "$3" = - ] || [ "$6" = - ]; then
				marks=-
			else
				marks=$(echo "scale=2; ($6 - $3) / $n" | bc -l | sed 's/^\(-\?\)\./\10./')
			fi
			# A rename moves one folder (its sub-folders follow it); a
			# delete removes three.
			pren=$(ms_per "$ren" "$ops")
			pdel=$(ms_per "$del" $((ops * 3)))
			say "| $n | $m | $(fmt "$ready") | $(fmt "$caught") | $((rss / 1024)) | $slab | $unrecl | $marks | $pren | $pdel | $load |"
			echo "$m $n $pren $pdel $(fmt "$ready") $(fmt "$caught") $((rss / 1024)) $slab $unrecl $marks ${load%% *}" >>"$dat"
			echo "- $n folders, $m, run $run: $watched" >>"$B/scale-notes"
		done
		first=0
	done
done
say ""
say "Events seen and folders watched:"
say ""
while IFS= read -r l; do say "$l"; done <"$B/scale-notes"

if command -v gnuplot >/dev/null 2>&1; then
	"$here/scale-plot" "$dat" "$B/results/scale.svg"
	say ""
	say "Plot: $B/results/scale.svg"
else
	echo "bench/run: scale: gnuplot is not installed: no plot (apt-get install gnuplot-nox, then bench/scale-plot $dat OUT.svg)" >&2
fi
