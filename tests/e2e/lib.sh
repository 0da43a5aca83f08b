# tests/e2e/lib.sh - sourced by every end-to-end scenario: a temporary tree,
# TAP helpers, and a poll that never sleeps a fixed time.
set -u
: "${THUMBWATCH:?THUMBWATCH must name the binary under test}"
T=$(mktemp -d "${TMPDIR:-/tmp}/thumbwatch-e2e.XXXXXX") || exit 99
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	chmod -R u+rwx "$T" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
mkdir "$T/in" "$T/out"
n=0
failed=0
ok()   { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }
# is GOT WANT DESC
is() { if [ "$1" = "$2" ]; then ok "$3"; else fail "$3"; echo "#   got '$1', want '$2'"; fi; }
# On a failure, the daemon's logs go into the test's own log, for whoever
# reads it afterwards: $T is gone by then.
done_testing() {
	echo "1..$n"
	[ "$failed" -eq 0 ] && return 0
	for f in "$T"/log*; do [ -s "$f" ] && { echo "# $(basename "$f"):"; tail -n 60 "$f" | diag; }; done
	return 1
}
diag() { sed 's/^/#   /' "$@"; }
# Poll, never sleep a fixed time: inotify and the workers are asynchronous.
# Gives up after $WAIT_SECONDS (default 20; sanitizer builds are slow).
wait_for() {
	i=0
	while ! "$@"; do
		i=$((i + 1))
		[ $i -gt $(( ${WAIT_SECONDS:-20} * 20 )) ] && return 1
		sleep 0.05
	done
}

# Debian's python3, which has the python3-* packages scripts/test installs
# (prometheus_client, gi); "python3" on the PATH may be another interpreter.
DEBIAN_PYTHON3=python3
[ -x /usr/bin/python3 ] && DEBIAN_PYTHON3=/usr/bin/python3

command -v gm >/dev/null || { echo "1..0 # SKIP gm (graphicsmagick) is not installed"; exit 0; }

# dims FILE -> "W H FORMAT"
dims() { gm identify -format '%w %h %m' "$1" 2>/dev/null; }

# fits SRC THUMB BOXW BOXH: THUMB fits the box, is never larger than SRC, and
# keeps SRC's aspect ratio to within one pixel.
fits() {
	set -- "$(dims "$1")" "$(dims "$2")" "$3" "$4"
	sw=${1%% *}; r=${1#* }; sh=${r%% *}
	tw=${2%% *}; r=${2#* }; th=${r%% *}
	[ -n "$tw" ] && [ "$tw" -le "$3" ] && [ "$th" -le "$4" ] && [ "$tw" -le "$sw" ] && [ "$th" -le "$sh" ] || return 1
	# |tw*sh - th*sw| <= max(sw, sh): within one pixel on the longer side
	d=$((tw * sh - th * sw)); [ $d -lt 0 ] && d=$((-d))
	m=$sw; [ "$sh" -gt "$m" ] && m=$sh
	[ $d -le "$m" ]
}

# The daemon's watcher: inotify, or fanotify when the scenario is run by
# tests/e2e/fanotify-run (the same scenario, the other mode).
WATCHER=${THUMBWATCH_TEST_WATCHER:-inotify}
# inotify_only DESC: true with watcher = inotify; with fanotify, which keeps
# no watch per folder, DESC is a point skipped, saying so.
inotify_only() {
	[ "$WATCHER" = inotify ] && return 0
	n=$((n + 1))
	echo "ok $n - $1 # SKIP watcher = fanotify keeps no watch per folder"
	return 1
}
# watched_count N: how the "ready:" and "reloaded:" lines count N folders watched.
watched_count() {
	if [ "$WATCHER" = inotify ]; then echo "folders watched $1"; else echo "file systems marked (fanotify) 1"; fi
}

# start_daemon [ARGS...]: runs the daemon in the background; its stderr goes
# to a log of its own, $LOG (every log is also appended to $T/log at the end).
starts=0
LOG=$T/log
start_daemon() {
	starts=$((starts + 1))
	LOG=$T/log.$starts
	"$THUMBWATCH" --watcher "$WATCHER" "$@" 2>"$LOG" &
	PID=$!
}
# running PID: the process exists and has not exited (a zombie has).
running() {
	state=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ]
}
# wait_exit PID: waits for PID, a child of this shell, to exit, for at most
# $WAIT_SECONDS (never for ever: then it is killed, status 137); the exit
# status is in $STATUS.
wait_exit() {
	i=0
	while running "$1"; do
		i=$((i + 1))
		if [ $i -gt $(( ${WAIT_SECONDS:-20} * 20 )) ]; then
			echo "# pid $1 did not exit within ${WAIT_SECONDS:-20} s: killed"
			kill -KILL "$1" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	wait "$1"
	STATUS=$?
}
# children_of PID: the pids of PID's children (procfs: no procps needed).
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null; }
# stop_daemon: SIGTERM, then waits (bounded); the exit status is in $STATUS.
stop_daemon() {
	kill -TERM "$PID" 2>/dev/null
	wait_exit "$PID"
	PID=
	cat "$LOG" >>"$T/log"
}
# temporaries DIR: hidden files left in an output tree, not counting the
# daemon's own state folder .thumbwatch/.
temporaries() { find "$1" -name '.*' -not -name .thumbwatch -not -path '*/.thumbwatch/*' | wc -l; }
# record OUT SRC: the failure record of the source file SRC under the output
# OUT, named by SRC's device and inode.
record() { printf '%s/.thumbwatch/failed/%x-%x' "$1" $(stat -c '%d %i' "$2"); }
log_has() { grep -q -- "$1" "$LOG"; }
is_file() { [ -s "$1" ]; }
is_gone() { [ ! -e "$1" ]; }
# The daemon's inotify watches, as the kernel counts them.
kernel_watches() { cat /proc/"$PID"/fdinfo/* 2>/dev/null | grep -c '^inotify wd:'; }
# wait_ready: the daemon logged that every root is watched.
wait_ready() { wait_for log_has "ready:"; }
# A small JPEG to copy around: cheap to thumbnail.
gm convert -size 320x240 gradient:red-blue "$T/sample.jpg"
