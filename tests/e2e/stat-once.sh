#!/bin/sh
# No file is stat()ed twice when once will do. The walks tell folders from
# files by readdir's d_type, the watcher stats no file, and the worker's one
# stat decides whether a file needs work; a file that is made is looked at
# once more after its thumbnails are written (it may have changed meanwhile). Counted with strace, by name, for
# --once (making, then up to date), the daemon's catch-up and a live drop.
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || { echo "1..0 # SKIP strace is not installed"; exit 0; }
# LeakSanitizer stops the world with ptrace, which a traced process cannot.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS

mkdir -p "$T/in/a/b" "$T/in/c"
for i in 1 2 3 4 5 6; do
	cp "$T/sample.jpg" "$T/in/top$i.jpg"
	cp "$T/sample.jpg" "$T/in/a/mid$i.jpg"
	gm convert -size 40x30 xc:green "$T/in/a/b/deep$i.png"
	cp "$T/sample.jpg" "$T/in/c/side$i.jpg"
done
echo notes >"$T/in/readme.txt"
files=$(cd "$T/in" && find . -name '*.jpg' -o -name '*.png' | sed 's|^\./||' | sort)
nfiles=$(echo "$files" | wc -l)

# stat_counts TRACE: for every source file, how many stat calls named it
# (by its path, or by its name relative to a folder's descriptor), one
# "count path" line each.
stat_counts() {
	for f in $files; do
		c=$(grep -E 'stat[a-z0-9]*\(' "$1" | grep -cF -e "\"$T/in/$f\"" -e ", \"$(basename "$f")\"")
		echo "$c $f"
	done
}
# all_n TRACE N DESC: every source file was stat()ed exactly N times.
all_n() {
	stat_counts "$1" >"$1.counts"
	bad=$(grep -cv "^$2 " "$1.counts")
	is "$bad" 0 "$3"
	[ "$bad" -eq 0 ] || grep -v "^$2 " "$1.counts" | head -5 | diag
}
all_once() { all_n "$1" 1 "$2"; }

strace -f -qq -o "$T/once1" "$THUMBWATCH" --once -w 2 "$T/in" "$T/out" >/dev/null 2>"$T/once1.err"
is "$?" 0 "--once under strace: exit 0"
is "$(find "$T/out" -name '*_thumbnail.*' | wc -l)" "$nfiles" "... all $nfiles thumbnails made"
all_n "$T/once1" 2 "--once, making: each file stat()ed twice (to decide, and after writing)"

strace -f -qq -o "$T/once2" "$THUMBWATCH" --once -w 2 "$T/in" "$T/out" >"$T/once2.out" 2>"$T/once2.err"
check "--once, up to date: nothing made" grep -q "made 0, up to date $nfiles," "$T/once2.out"
all_once "$T/once2" "--once, up to date: each file stat()ed once"
# The count itself: a trace with a second stat of top1.jpg counts 2.
cp "$T/once2" "$T/twice"
grep -E 'stat.*top1\.jpg"' "$T/once2" >>"$T/twice"
stat_counts "$T/twice" >"$T/twice.counts"
check "(a file stat()ed twice is counted twice)" grep -q '^2 top1.jpg$' "$T/twice.counts"

LOG=$T/log.strace
strace -f -qq -o "$T/daemon" "$THUMBWATCH" -w 2 "$T/in" "$T/out" 2>"$LOG" &
SPID=$!
trap 'kill -TERM $(children_of "$SPID") 2>/dev/null; wait_exit "$SPID"; cleanup' EXIT
check "the daemon under strace catches up" wait_for log_has "caught up in"
all_once "$T/daemon" "daemon catch-up (watches set, tree scanned): each file stat()ed once"
files=new.jpg
cp "$T/sample.jpg" "$T/in/.new.tmp" && mv "$T/in/.new.tmp" "$T/in/new.jpg"
check "a live drop is made" wait_for is_file "$T/out/new_thumbnail.jpg"
all_n "$T/daemon" 2 "... and stat()ed twice (to decide, and after writing)"
daemon=$(children_of "$SPID" | head -n 1)
check "the daemon runs under strace" test -n "$daemon"
[ -n "$daemon" ] && kill -TERM "$daemon"
wait_exit "$SPID"
is "$STATUS" 0 "exit 0 (strace passes the daemon's on)"
cat "$LOG" >>"$T/log"
done_testing
