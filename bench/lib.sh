# bench/lib.sh - what bench/run and its sections (bench/sections/*.sh) share:
# the settings, the timing and daemon helpers, and the photo corpus.
# Sourced with $here set to the bench folder; the environment is described
# in bench/run's header.
# shellcheck shell=sh disable=SC2034,SC2154
top=$(dirname "$here")
B=${BENCH_DIR:-/var/tmp/thumbwatch-bench}
RUNS=${BENCH_RUNS:-3}
W=${BENCH_WORKERS:-2}
BOX=128
PY=/usr/bin/python3    # Debian's, which has python3-pil
TW=$top/_build-bench/thumbwatch
R=$B/results/results.md

say() { printf '%s\n' "$*" | tee -a "$R"; }
now() { date +%s.%N; }
lt() { [ "$(echo "$1 < $2" | bc -l)" = 1 ]; }
ratio() { echo "scale=2; $1 / $2" | bc -l | sed 's/^\./0./'; }
fmt() { printf '%.2f' "$1"; }

# best PREP CMD: the best wall time in seconds of RUNS runs of CMD (eval'd),
# PREP (eval'd) before each. A failing CMD stops the benchmark.
best() {
	b=
	for _ in $(seq "$RUNS"); do
		eval "$1"
		s=$(now)
		if ! eval "$2" >"$B/last.out" 2>&1; then
			echo "bench/run: failed: $2" >&2
			cat "$B/last.out" >&2
			exit 1
		fi
		t=$(echo "$(now) - $s" | bc -l)
		if [ -z "$b" ] || lt "$t" "$b"; then b=$t; fi
	done
	echo "$b"
}

# peak_rss CMD: the peak RSS in MB of one run of CMD (eval'd).
peak_rss() {
	/usr/bin/time -f '%M' -o "$B/rss" sh -c "$1" >/dev/null 2>&1 || true
	echo $(($(tail -1 "$B/rss") / 1024))
}

# The daemon, logging to $DLOG.
daemon_start() {
	DLOG=$B/daemon.log
	"$TW" --log-target stderr --log-level info "$@" 2>"$DLOG" &
	DPID=$!
}
wait_log() { # TEXT SECONDS
	i=0
	while ! grep -q "$1" "$DLOG"; do
		i=$((i + 1))
		if [ "$i" -gt $(($2 * 20)) ] || ! kill -0 "$DPID" 2>/dev/null; then
			echo "bench/run: the daemon never logged '$1'" >&2
			cat "$DLOG" >&2
			exit 1
		fi
		sleep 0.05
	done
}
daemon_stop() { kill -TERM "$DPID"; wait "$DPID" || true; }
status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$DPID/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$DPID/stat"; }

# The photo corpus most sections use, made once and kept in $B (the other
# corpora belong to the one section that uses each).
photo_corpus() {
	[ -d "$B/photo/jpeg" ] || "$here/make-photo-corpus" "$B/photo" >/dev/null
}
