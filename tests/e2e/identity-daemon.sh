#!/bin/sh
# The live daemon and the identity of a source (size, inode, mtime to the
# nanosecond, stamped on its thumbnail): a source replaced by an older file
# (mv, cp -p, rsync -a, tar x) is made again, live and across a restart; one
# replaced while its thumbnail is being made ends with the new image's; one
# that arrived with a future mtime is made again when a current version
# replaces it; a truncated file with a future mtime still fails once its
# grace is over (youth by ctime); a missing output folder is an io failure
# that names the folder and is retried after retry_io; a source replaced by
# a symlink loses its thumbnail. Images differ in shape (200x100 red,
# 100x200 blue, 150x150 green) so a thumbnail's size says which it shows.
. "$(dirname "$0")/lib.sh"

printf '[thumbwatch]\nretry_io = 1s\ntruncated_grace = 1s\nlog_level = debug\n[drop:d]\nsource = %s\noutput = %s\n' \
	"$T/in" "$T/out" >"$T/tw.conf"
wh() { gm identify -format '%w %h' "$1" 2>/dev/null; }
shows() { [ "$(wh "$1")" = "$2" ]; }
red() { gm convert -size 200x100 xc:red "$1"; }         # thumbnail 128x64
blue() { gm convert -size 100x200 xc:blue "$1"; }       # thumbnail 64x128
green() { gm convert -size 150x150 xc:green "$1"; }     # thumbnail 128x128
caught_up() { grep -q "caught up in" "$LOG"; }
mkdir "$T/stage" "$T/tarsrc" "$T/in/sub"
ways="mv cp rsync tar"
command -v rsync >/dev/null || ways="mv cp tar"
for w in $ways; do red "$T/in/$w.jpg"; done
cp "$T/sample.jpg" "$T/in/link.jpg"
# replace_all COLOUR DATE: each of $ways replaced by a COLOUR image whose
# mtime is DATE, older than any thumbnail, the way its name says.
replace_all() {
	for w in $ways; do "$1" "$T/stage/$w.jpg"; touch -d "$2" "$T/stage/$w.jpg"; done
	mv "$T/stage/mv.jpg" "$T/in/mv.jpg"
	cp -p "$T/stage/cp.jpg" "$T/in/cp.jpg"
	case $ways in *rsync*) rsync -a "$T/stage/rsync.jpg" "$T/in/rsync.jpg" ;; esac
	rm -f "$T/tarsrc/tar.jpg"
	mv "$T/stage/tar.jpg" "$T/tarsrc/tar.jpg"
	tar -C "$T/tarsrc" -cf "$T/new.tar" tar.jpg
	tar -C "$T/in" -xf "$T/new.tar"
}
how() {
	case $1 in
	mv) echo "mv from a staging folder" ;;
	cp) echo "cp -p" ;;
	rsync) echo "rsync -a" ;;
	tar) echo "tar x" ;;
	esac
}

# The race below holds the decode of race.png with the test hook; a binary
# without it (an older build) gets a large PNG that takes as long to decode.
if grep -q THUMBWATCH_TEST_SLOW "$THUMBWATCH"; then
	red "$T/stage/race.png"
	race_first="128 64"
else
	gm convert -size 6000x6000 xc:red "$T/stage/race.png"
	race_first="128 128"
fi

THUMBWATCH_TEST_SLOW=race.png THUMBWATCH_TEST_SLOW_MS=2000 start_daemon --config "$T/tw.conf"
check "ready" wait_ready
check "caught up" wait_for caught_up
for w in $ways; do
	is "$(wh "$T/out/${w}_thumbnail.jpg")" "128 64" "$w.jpg: the thumbnail shows the first (red, wide) image"
done

# A truncated file with a future mtime: young by its ctime only, so it fails
# once the grace period (1 s) is over instead of being retried for ever.
size=$(wc -c <"$T/sample.jpg")
head -c $((size / 2)) "$T/sample.jpg" >"$T/stage/young.jpg"
touch -d 2035-01-01 "$T/stage/young.jpg"
mv "$T/stage/young.jpg" "$T/in/young.jpg"

# Live: replaced by older files.
replace_all blue 2020-01-01
for w in $ways; do
	check "live, replaced by an older file with $(how "$w"): the new image's thumbnail appears" \
		wait_for shows "$T/out/${w}_thumbnail.jpg" "64 128"
done
command -v rsync >/dev/null || ok "# SKIP rsync is not installed"

within10() { WAIT_SECONDS=10 wait_for "$@"; }
check "a truncated file with a future mtime ends as failed (truncated) within 10 s" \
	within10 log_has "young.jpg' failed (truncated)"

# Replaced by an atomic mv while its thumbnail is being made.
mv "$T/stage/race.png" "$T/in/race.png"
decoding() { grep -qs race.png "$T/out/.thumbwatch/inflight/"*; }
check "race.png: its first version is being decoded" wait_for decoding
blue "$T/stage/race.png"
mv "$T/stage/race.png" "$T/in/race.png"
check "replaced while it was made: the thumbnail ends showing the new image" \
	wait_for shows "$T/out/race_thumbnail.png" "64 128"
idle() { ! decoding; }
check "... no worker is on it any more" wait_for idle
is "$(wh "$T/out/race_thumbnail.png")" "64 128" "... and it stays the new image's"
check "... the old image's thumbnail was written on the way ($race_first), and found stale" \
	log_has "race.png' changed while its thumbnail was made"

# A future mtime, then a current version.
red "$T/stage/future.jpg"
touch -d 2035-01-01 "$T/stage/future.jpg"
mv "$T/stage/future.jpg" "$T/in/future.jpg"
check "a source with a future mtime gets its thumbnail" wait_for shows "$T/out/future_thumbnail.jpg" "128 64"
blue "$T/stage/future.jpg"
mv "$T/stage/future.jpg" "$T/in/future.jpg"
check "... replaced by a version with a current mtime (mv): remade" \
	wait_for shows "$T/out/future_thumbnail.jpg" "64 128"

# The output folder missing at run time, and not creatable (a file is in
# the way): an io failure naming the folder, retried after retry_io.
rm -rf "$T/out/sub"
: >"$T/out/sub"
cp "$T/sample.jpg" "$T/in/sub/x.jpg"
check "a missing output folder: io, and the log names it" \
	wait_for log_has "'$T/in/sub/x.jpg' failed (io): cannot open or create the output folder '$T/out/sub'"
check "... it is tried again after retry_io" log_has "'$T/in/sub/x.jpg': trying again every 1.0 s"
retried() { log_has "'$T/in/sub/x.jpg' still fails (io, 3 times)"; }
check "... and again, quietly (at debug)" wait_for retried
rm "$T/out/sub"
check "once the way is clear the thumbnail appears, with no new event" wait_for is_file "$T/out/sub/x_thumbnail.jpg"
is "$(grep -c "'$T/in/sub/x.jpg' failed (io)" "$LOG")" 1 "... the io failure was logged at err once, not at each retry"
check "... and the recovery is logged" wait_for log_has "'$T/in/sub/x.jpg' made, after [0-9]* io failures"

# A source replaced by a symlink (follow_symlinks = no): not a source.
check "link.jpg has its thumbnail" is_file "$T/out/link_thumbnail.jpg"
ln -sf "$T/sample.jpg" "$T/in/link.jpg"
check "a source replaced by a symlink loses its thumbnail" wait_for is_gone "$T/out/link_thumbnail.jpg"
"$THUMBWATCH" --config "$T/tw.conf" --explain "$T/in/link.jpg" >"$T/explain" 2>&1
check "--explain says 'skipped: a symlink'" grep -q "skipped: a symlink" "$T/explain"
check "... and not that it will be made again" test -z "$(grep 'will be made' "$T/explain")"
diag "$T/explain"

is "$(grep -c "young.jpg' failed" "$LOG")" 1 "the truncated file with a future mtime was logged as failed once"
# Waited for once at most: a loaded machine may reach it after its grace.
waits=$(grep -c "young.jpg' looks truncated" "$LOG")
check "... after at most one wait for the grace period ($waits), not retried for ever" test "$waits" -le 1
check "... and its failure is remembered" test -s "$(record "$T/out" "$T/in/young.jpg")"
# Written in place with the same size, its mtime then set back (cat, then
# touch -d), all before the daemon reads the events: size, inode and mtime
# are what the stamp says, but the file was written, so it is made again.
# Uncompressed BMPs of one size have one length whatever their colour.
gm convert -size 120x60 xc:red "BMP3:$T/red.bmp"
gm convert -size 120x60 xc:blue "BMP3:$T/blue.bmp"
is "$(stat -c %s "$T/red.bmp")" "$(stat -c %s "$T/blue.bmp")" "red and blue BMPs of one size have one length"
cp "$T/red.bmp" "$T/in/inplace.bmp"
touch -d '2020-02-02 02:02:02' "$T/in/inplace.bmp"
colour() { gm convert "$T/out/inplace_thumbnail.bmp" -crop 1x1+5+5 +repage -depth 8 txt:- 2>/dev/null | sed -n 's/.*#\([0-9A-F]\{6\}\).*/\1/p'; }
is_colour() { [ "$(colour)" = "$1" ]; }
check "a red BMP: made red" wait_for is_colour FF0000
kill -STOP "$PID"
cat "$T/blue.bmp" >"$T/in/inplace.bmp"
touch -d '2020-02-02 02:02:02' "$T/in/inplace.bmp"
kill -CONT "$PID"
check "written in place with blue, same size, mtime set back: made again, blue" wait_for is_colour 0000FF
echo "#   the thumbnail's colour: $(colour)"

stop_daemon
is "$STATUS" 0 "SIGTERM: exit 0"

"$THUMBWATCH" --config "$T/tw.conf" --once >"$T/once" 2>&1
check "--once afterwards makes nothing: every thumbnail is current" grep -q "^made 0, " "$T/once"
diag "$T/once"

# Replaced while no daemon runs: found at the restart's catch-up.
replace_all green 2019-01-01
start_daemon --config "$T/tw.conf"
check "restarted: caught up" wait_for caught_up
nways=$(echo "$ways" | wc -w)
check "the catch-up made the $nways replaced sources again" grep -q "caught up in .*: made $nways," "$LOG"
grep "caught up" "$LOG" | diag
for w in $ways; do
	is "$(wh "$T/out/${w}_thumbnail.jpg")" "128 128" "replaced by an older file with $(how "$w") while stopped: remade at start"
done
stop_daemon
is "$STATUS" 0 "SIGTERM: exit 0"
done_testing
