#!/bin/sh
# --once and the identity of a source: a thumbnail is current only when the
# size, inode and mtime (to the nanosecond) of the source it was made from,
# stamped on it, are the source's now. So a source replaced by a different
# image with an OLDER mtime (mv, cp -p, rsync -a, tar x) is made again, and so
# is one that arrived with a future mtime and was replaced by a current one;
# a corrupt file repaired in place with cp -p (same size, same mtime) is
# tried again; a source replaced by a symlink is explained as skipped, its
# thumbnail as an orphan. Images differ in shape (200x100 red, 100x200 blue)
# so a thumbnail's size says which one it shows.
. "$(dirname "$0")/lib.sh"

printf '[drop:d]\nsource = %s\noutput = %s\n' "$T/in" "$T/out" >"$T/tw.conf"
# once NAME: a --once run over the drop, its output in $T/NAME, its status in $RC.
once() { "$THUMBWATCH" --config "$T/tw.conf" --once >"$T/$1" 2>&1; RC=$?; }
wh() { gm identify -format '%w %h' "$1" 2>/dev/null; }
red() { gm convert -size 200x100 xc:red "$1"; }     # thumbnail 128x64
blue() { gm convert -size 100x200 xc:blue "$1"; }   # thumbnail 64x128
mkdir "$T/stage" "$T/tarsrc"

ways="mv cp rsync tar"
command -v rsync >/dev/null || ways="mv cp tar"
nways=$(echo "$ways" | wc -w)
all=$((nways + 2))
for w in $ways future; do red "$T/in/$w.jpg"; done
touch -d 2035-01-01 "$T/in/future.jpg"
cp "$T/sample.jpg" "$T/in/link.jpg"
once run1
is "$RC" 0 "first run: exit 0"
check "first run: made $all" grep -q "^made $all, up to date 0, failed 0" "$T/run1"
for w in $ways; do
	is "$(wh "$T/out/${w}_thumbnail.jpg")" "128 64" "$w.jpg: the thumbnail shows the first (red, wide) image"
done
is "$(wh "$T/out/future_thumbnail.jpg")" "128 64" "a source with a future mtime (2035) gets its thumbnail"
if command -v python3 >/dev/null; then
	stamp=$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.thumbwatch").decode())' \
		"$T/out/mv_thumbnail.jpg" 2>&1)
	want="2 $(stat -c '%s %i %.9Y %.9W' "$T/in/mv.jpg")"
	check "the thumbnail is stamped user.thumbwatch = '2 SIZE INO MTIME BTIME RECIPE NAME' of its source" \
		sh -c "echo '$stamp' | grep -qx '$want [0-9a-f]\{16\} mv.jpg'"
	[ "${stamp#"$want"}" != "$stamp" ] || diag <<EOF
got '$stamp', want '$want RECIPE mv.jpg'
EOF
else
	ok "# SKIP python3 is needed to read the stamp"
fi

# Replaced by a different image whose mtime is older than the thumbnail.
for w in $ways; do blue "$T/stage/$w.jpg"; touch -d 2020-01-01 "$T/stage/$w.jpg"; done
mv "$T/stage/mv.jpg" "$T/in/mv.jpg"
cp -p "$T/stage/cp.jpg" "$T/in/cp.jpg"
case $ways in *rsync*) rsync -a "$T/stage/rsync.jpg" "$T/in/rsync.jpg" ;; esac
mv "$T/stage/tar.jpg" "$T/tarsrc/tar.jpg"
tar -C "$T/tarsrc" -cf "$T/new.tar" tar.jpg
tar -C "$T/in" -xf "$T/new.tar"
for w in $ways; do
	check "$w.jpg: the new file is older than its thumbnail" test "$T/in/$w.jpg" -ot "$T/out/${w}_thumbnail.jpg"
done
# A future mtime replaced by a current one.
blue "$T/stage/future.jpg"
mv "$T/stage/future.jpg" "$T/in/future.jpg"
once run2
is "$RC" 0 "after the replacements: exit 0"
diag "$T/run2"
check "every replaced source is made again ($((nways + 1)))" grep -q "^made $((nways + 1)), up to date 1, failed 0" "$T/run2"
for w in $ways; do
	case $w in
	mv) how="mv from a staging folder" ;;
	cp) how="cp -p" ;;
	rsync) how="rsync -a" ;;
	tar) how="tar x" ;;
	esac
	is "$(wh "$T/out/${w}_thumbnail.jpg")" "64 128" "replaced by an older file with $how: remade, shows the new image"
done
command -v rsync >/dev/null || ok "# SKIP rsync is not installed"
is "$(wh "$T/out/future_thumbnail.jpg")" "64 128" \
	"a source with a future mtime replaced by one with a current mtime (mv): remade"
once run3
check "a third run makes nothing: every stamp is current" grep -q "^made 0, up to date $all, failed 0" "$T/run3"
diag "$T/run3"

# A corrupt file repaired in place from a backup with cp -p: the same size
# and the same mtime as the corrupt version, only its ctime tells.
gm convert -size 320x240 plasma: "$T/good.jpg"
cp "$T/good.jpg" "$T/in/fix.jpg"
dd if=/dev/zero of="$T/in/fix.jpg" bs=1 seek=20 count=400 conv=notrunc 2>/dev/null
touch -r "$T/good.jpg" "$T/in/fix.jpg"
once run4
is "$RC" 1 "a corrupt file: exit 1"
check "... it fails as corrupt" grep -q "fix.jpg' failed (corrupt)" "$T/run4"
rec=$(record "$T/out" "$T/in/fix.jpg")
check "... and is remembered" test -s "$rec"
once run5
is "$RC" 1 "unchanged, it still counts as failed"
check "... without being decoded again" test -z "$(grep "fix.jpg' failed" "$T/run5")"
chmod 600 "$T/in/fix.jpg"
once run5b
is "$RC" 1 "a chmod (its ctime changes, its content not): still failed"
check "... without being decoded or logged again" test -z "$(grep "fix.jpg' failed" "$T/run5b")"
before=$(stat -c '%s %i %.9Y' "$T/in/fix.jpg")
cp -p "$T/good.jpg" "$T/in/fix.jpg"
is "$(stat -c '%s %i %.9Y' "$T/in/fix.jpg")" "$before" "repaired with cp -p: same size, inode and mtime as the corrupt version"
once run6
is "$RC" 0 "the repaired file is tried again and made: exit 0"
diag "$T/run6"
is "$(wh "$T/out/fix_thumbnail.jpg")" "128 96" "... its thumbnail is there"
check "... and its failure record is gone" is_gone "$rec"

# A source replaced by a symlink (follow_symlinks = no): no source any more.
ln -sf "$T/sample.jpg" "$T/in/link.jpg"
"$THUMBWATCH" --config "$T/tw.conf" --explain "$T/in/link.jpg" >"$T/explain" 2>&1
diag "$T/explain"
check "--explain on a source replaced by a symlink: 'skipped: a symlink'" grep -q "skipped: a symlink" "$T/explain"
check "... and not that it will be made again" test -z "$(grep 'will be made' "$T/explain")"
check "... its thumbnail, still there, is an orphan" grep -q "link_thumbnail.jpg: an orphan" "$T/explain"

done_testing
