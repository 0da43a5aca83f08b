#!/bin/sh
# layout = freedesktop: the Thumbnail Managing Standard's cache, read back
# and checked against the standard: OUTPUT/normal|large/MD5(URI).png, the
# Thumb:: text chunks, files 0600 in folders 0700, up to date by
# Thumb::MTime, failures in fail/thumbwatch/; the daemon keeps it, --gc
# removes only this drop's orphans from a cache other programs share.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { fail "python3 reads the PNG chunks"; done_testing; exit; }

mkdir -p "$T/in/sub dir"
cp "$T/sample.jpg" "$T/in/sub dir/a b.jpg"
gm convert -size 300x100 xc:blue "$T/in/wide.png"
echo "not an image" >"$T/in/bad.jpg"
printf '[drop:d]\nsource = %s\noutput = %s\nlayout = freedesktop\nsizes = 128x128 256x256\n' "$T/in" "$T/cache" >"$T/tw.conf"

# uri FILE: its file:// URI as GLib's g_filename_to_uri() gives it, which is
# what GNOME, KDE and Thunar look thumbnails up by: the path's bytes as they
# are, but for these 79, each written %XX in upper case (not Python's
# urllib.parse.quote: that escapes ( ) ! ' , & = + @ $ : * too).
GLIB_URI='import os, sys
SAFE = b"!$&'"'"'()*+,-./0123456789:=@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
def uri(path):
    return "file://" + "".join(chr(b) if b in SAFE else "%%%02X" % b for b in os.fsencode(path))
'
uri() { python3 -c "$GLIB_URI"'
print(uri(sys.argv[1]))' "$1"; }
# name FILE: the standard's name, MD5(URI).png.
name() { python3 -c "$GLIB_URI"'
import hashlib
print(hashlib.md5(uri(sys.argv[1]).encode()).hexdigest() + ".png")' "$1"; }
chunk() { # PNG KEY: the value of its tEXt chunk KEY
	python3 - "$1" "$2" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n"
p = 8
while p < len(d):
    n, = struct.unpack(">I", d[p:p + 4])
    if d[p + 4:p + 8] == b"tEXt":
        k, v = d[p + 8:p + 8 + n].split(b"\0", 1)
        if k.decode() == sys.argv[2]:
            print(v.decode())
    p += 12 + n
PY
}
mode() { stat -c %a "$1"; }

"$THUMBWATCH" --config "$T/tw.conf" --once >/dev/null 2>&1
is "$?" 1 "--once: exit 1 (bad.jpg fails)"
a="$T/in/sub dir/a b.jpg"
na=$(name "$a")
check "normal/ holds MD5(URI).png for a path with spaces" is_file "$T/cache/normal/$na"
check "large/ too" is_file "$T/cache/large/$na"
is "$(dims "$T/cache/normal/$na") $(dims "$T/cache/large/$na")" "128 96 PNG 256 192 PNG" "128 and 256, PNG"
is "$(chunk "$T/cache/normal/$na" Thumb::URI)" "$(uri "$a")" "Thumb::URI is the source's URI"
is "$(chunk "$T/cache/normal/$na" Thumb::MTime)" "$(stat -c %Y "$a")" "Thumb::MTime is its mtime"
is "$(chunk "$T/cache/normal/$na" Thumb::Size)" "$(stat -c %s "$a")" "Thumb::Size is its size"
is "$(chunk "$T/cache/normal/$na" Thumb::Mimetype)" "image/jpeg" "Thumb::Mimetype"
is "$(chunk "$T/cache/large/$(name "$T/in/wide.png")" Thumb::Mimetype)" "image/png" "... image/png for a PNG"
is "$(mode "$T/cache/normal/$na") $(mode "$T/cache/large/$na")" "600 600" "thumbnails are 0600"
is "$(mode "$T/cache") $(mode "$T/cache/normal") $(mode "$T/cache/large") $(mode "$T/cache/fail") $(mode "$T/cache/fail/thumbwatch")" \
	"700 700 700 700 700" "folders are 0700, the cache itself too"
nb=$(name "$T/in/bad.jpg")
check "a failure leaves the marker fail/thumbwatch/MD5.png" is_file "$T/cache/fail/thumbwatch/$nb"
is "$(chunk "$T/cache/fail/thumbwatch/$nb" Thumb::URI) $(chunk "$T/cache/fail/thumbwatch/$nb" Thumb::MTime)" \
	"$(uri "$T/in/bad.jpg") $(stat -c %Y "$T/in/bad.jpg")" "... with Thumb::URI and Thumb::MTime"
check "nothing else in the cache's flavour folders" test "$(ls "$T/cache/normal" | wc -l)" -eq 2

# Up to date means Thumb::MTime matches: the thumbnail's own mtime does not count.
touch -d '2001-01-01' "$T/cache/normal/$na"
"$THUMBWATCH" --config "$T/tw.conf" --once >"$T/o2" 2>&1
check "a second pass: up to date by Thumb::MTime, whatever the file's mtime" grep -q "made 0, up to date 2" "$T/o2"
touch -d '2020-02-02 02:02:02' "$a"
"$THUMBWATCH" --config "$T/tw.conf" --once >"$T/o3" 2>&1
check "a source with a new mtime is made again" grep -q "made 1, up to date 1" "$T/o3"
is "$(chunk "$T/cache/normal/$na" Thumb::MTime)" "$(stat -c %Y "$a")" "... with the new Thumb::MTime"

# The daemon: a new file, then its deletion.
start_daemon --config "$T/tw.conf"
check "ready" wait_ready
cp "$T/sample.jpg" "$T/in/new (1).jpg"
nn=$(name "$T/in/new (1).jpg")
check "the daemon makes normal/ and large/ for a new file" wait_for is_file "$T/cache/large/$nn"
rm "$T/in/new (1).jpg"
check "... and removes them when it is deleted" wait_for is_gone "$T/cache/normal/$nn"
# A renamed folder: its files have new URIs, so new names; the old ones go.
mkdir -p "$T/in/album/inner"
cp "$T/sample.jpg" "$T/in/album/one.jpg"
cp "$T/sample.jpg" "$T/in/album/inner/two.jpg"
o1=$(name "$T/in/album/one.jpg") o2=$(name "$T/in/album/inner/two.jpg")
check "a folder's files are made" wait_for sh -c "[ -s '$T/cache/large/$o1' ] && [ -s '$T/cache/large/$o2' ]"
mv "$T/in/album" "$T/in/album 2024"
r1=$(name "$T/in/album 2024/one.jpg") r2=$(name "$T/in/album 2024/inner/two.jpg")
check "the folder is renamed: its files are made under their new URIs" \
	wait_for sh -c "[ -s '$T/cache/large/$r1' ] && [ -s '$T/cache/large/$r2' ]"
is "$(chunk "$T/cache/normal/$r2" Thumb::URI)" "$(uri "$T/in/album 2024/inner/two.jpg")" "... with the new Thumb::URI"
check "... and the old URIs' thumbnails are gone, in every size and sub-folder" wait_for sh -c \
	"! [ -e '$T/cache/normal/$o1' ] && ! [ -e '$T/cache/large/$o1' ] && ! [ -e '$T/cache/normal/$o2' ] && ! [ -e '$T/cache/large/$o2' ]"
stop_daemon

# --gc: this drop's orphans go; another program's thumbnails stay.
gm convert -size 8x8 xc:red "$T/cache/normal/foreign.png"
python3 - "$T/cache/normal/foreign.png" <<'PY'
import struct, sys, zlib
p = sys.argv[1]
d = open(p, "rb").read()
body = b"tEXt" + b"Thumb::URI\0file:///somewhere/else.jpg"
chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
open(p, "wb").write(d[:33] + chunk + d[33:])
PY
rm "$a"
"$THUMBWATCH" --config "$T/tw.conf" --gc >"$T/gc" 2>&1
is "$(grep -c '^removed .*\.png$' "$T/gc")" 2 "--gc removes the gone source's two thumbnails"
check "... and leaves a thumbnail of another program's file" is_file "$T/cache/normal/foreign.png"
check "... and the thumbnails of existing sources" is_file "$T/cache/normal/$(name "$T/in/wide.png")"

# Names GLib leaves as they are, and names it escapes: every thumbnail is
# under the name GLib's URI gives, with that URI in Thumb::URI.
mkdir -p "$T/names/dir $(printf '\377') (x)"
for f in "photo (1).jpg" "it's & more!.png" 'a,b=c+d@e$f:g*h.jpg' "two  spaces .jpg" \
	"$(printf 'caf\351.jpg')" "$(printf 'caf\303\251.jpg')" 'q?#[x]{y}|z;%^`<>"\.jpg' "dir $(printf '\377') (x)/in~side.jpg"; do
	cp "$T/sample.jpg" "$T/names/$f"
done
printf '[drop:n]\nsource = %s\noutput = %s\nlayout = freedesktop\n' "$T/names" "$T/c3" >"$T/names.conf"
"$THUMBWATCH" --config "$T/names.conf" --once >"$T/o4" 2>&1
is "$?" 0 "--once over names with ( ) ! ' , & = + @ \$ : * ~, spaces, non-UTF-8 bytes: exit 0"
check "... makes all 8" grep -q "made 8," "$T/o4"
for f in "$T/names"/* "$T/names"/*/*; do
	[ -f "$f" ] || continue
	u=$(uri "$f")
	nf=$(name "$f")
	check "${u#"file://$T/names/"}: normal/ holds MD5(GLib's URI).png" is_file "$T/c3/normal/$nf"
	is "$(chunk "$T/c3/normal/$nf" Thumb::URI)" "$u" "... its Thumb::URI is GLib's URI"
done
check "nothing else in normal/" test "$(ls "$T/c3/normal" | wc -l)" -eq 8
# Against known strings, not only the helper above.
is "$(chunk "$T/c3/normal/$(name "$T/names/photo (1).jpg")" Thumb::URI)" "$(uri "$T/names")/photo%20(1).jpg" \
	"photo (1).jpg: Thumb::URI ends in photo%20(1).jpg"
is "$(chunk "$T/c3/normal/$(name "$T/names/$(printf 'caf\351.jpg')")" Thumb::URI)" "$(uri "$T/names")/caf%E9.jpg" \
	"caf<0xE9>.jpg (Latin-1): Thumb::URI ends in caf%E9.jpg"
"$THUMBWATCH" --config "$T/names.conf" --once >"$T/o5" 2>&1
check "a second pass finds them all up to date" grep -q "made 0, up to date 8" "$T/o5"
# A thumbnail made under the old escaping (every sub-delim %XX) has another
# name: it is not found as current, the right one is made, --gc removes the old.
p1="$T/names/photo (1).jpg"
old=$(python3 -c 'import hashlib, sys; print(hashlib.md5(sys.argv[1].encode()).hexdigest() + ".png")' \
	"$(uri "$T/names")/photo%20%281%29.jpg")
mv "$T/c3/normal/$(name "$p1")" "$T/c3/normal/$old"
"$THUMBWATCH" --config "$T/names.conf" --once >"$T/o6" 2>&1
check "a thumbnail under the old escaping's name is not current: made again" grep -q "made 1, up to date 7" "$T/o6"
check "... under GLib's name" is_file "$T/c3/normal/$(name "$p1")"
"$THUMBWATCH" --config "$T/names.conf" --gc >"$T/gc3" 2>&1
check "--gc removes the one under the old name, whose source's URI names another now" \
	grep -q "^removed $T/c3/normal/$old$" "$T/gc3"
check "... and keeps the one under GLib's name" is_file "$T/c3/normal/$(name "$p1")"

# Two drops, one cache (as a user's ~/.cache/thumbnails is): accepted; each
# prunes only its own sources' thumbnails.
mkdir "$T/share-a" "$T/share-b"
cp "$T/sample.jpg" "$T/share-a/a.jpg"
cp "$T/sample.jpg" "$T/share-b/b.jpg"
printf '[drop:a]\nsource = %s\noutput = %s\nlayout = freedesktop\n[drop:b]\nsource = %s\noutput = %s\nlayout = freedesktop\n' \
	"$T/share-a" "$T/shared" "$T/share-b" "$T/shared" >"$T/share.conf"
"$THUMBWATCH" --config "$T/share.conf" --once >"$T/share.out" 2>&1
is "$?" 0 "two freedesktop drops may share one cache"
check "... both are made" grep -q "^made 2, up to date 0, failed 0" "$T/share.out"
rm "$T/share-a/a.jpg"
"$THUMBWATCH" --config "$T/share.conf" --gc >"$T/share.gc" 2>&1
is "$(grep -c '^removed .*\.png$' "$T/share.gc")" 1 "--gc removes the one thumbnail of the drop whose file is gone"
check "... and keeps the other drop's" is_file "$T/shared/normal/$(name "$T/share-b/b.jpg")"
printf '[drop:a]\nsource = %s\noutput = %s\n[drop:b]\nsource = %s\noutput = %s\nlayout = freedesktop\n' \
	"$T/share-a" "$T/shared" "$T/share-b" "$T/shared" >"$T/share2.conf"
"$THUMBWATCH" --config "$T/share2.conf" --check-config >/dev/null 2>&1
is "$?" 2 "... but a mirror drop may not share it"

# What the standard cannot hold is refused.
printf '[drop:d]\nsource = %s\noutput = %s\nlayout = freedesktop\nsizes = 100x100\n' "$T/in" "$T/c2" >"$T/bad.conf"
"$THUMBWATCH" --config "$T/bad.conf" --check-config >/dev/null 2>"$T/bad.err"
is "$?" 2 "layout = freedesktop with sizes = 100x100: config error"
check "... naming the sizes it takes" grep -q "takes the sizes 128x128 (normal), 256x256 (large)" "$T/bad.err"
printf '[drop:d]\nsource = %s\noutput = %s\nlayout = freedesktop\nformat = jpeg\n' "$T/in" "$T/c2" >"$T/bad2.conf"
"$THUMBWATCH" --config "$T/bad2.conf" --check-config >/dev/null 2>"$T/bad2.err"
is "$?" 2 "layout = freedesktop with format = jpeg: config error"

done_testing
