#!/bin/sh
# layout = freedesktop, read by a real client: GNOME's thumbnail factory
# (GnomeDesktop's DesktopThumbnailFactory, over GLib's g_filename_to_uri(),
# as Nautilus does) must find every thumbnail thumbwatch made, whatever the
# name: ( ) ! ' , & = + @ $ : *, spaces, bytes that are not UTF-8.
# Installs nothing: skipped without python3-gi and gir1.2-gnomedesktop-4.0.
. "$(dirname "$0")/lib.sh"
# /usr/bin/python3 explicitly: "python3" may be another interpreter, without gi.
if ! /usr/bin/python3 -c 'import gi; gi.require_version("GnomeDesktop", "4.0")' 2>/dev/null; then
	echo "1..0 # SKIP python3-gi and gir1.2-gnomedesktop-4.0 are not installed"
	exit 0
fi
LOOKUP=${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/e2e/freedesktop-lookup.py

# The names every file manager meets: a browser's second download, shell
# metacharacters, RFC 3986's sub-delims, spaces, Latin-1.
for f in "photo (1).jpg" 'a,b=c+d@e$f:g*h.jpg' "plain.jpg" "with space.jpg" "$(printf 'caf\351.jpg')"; do
	cp "$T/sample.jpg" "$T/in/$f"
done
gm convert -size 200x100 xc:green "$T/in/it's & more!.png"
printf '[drop:c]\nsource = %s\noutput = %s\nlayout = freedesktop\nsizes = 128x128\n' "$T/in" "$T/cache/thumbnails" >"$T/tw.conf"
"$THUMBWATCH" --config "$T/tw.conf" --once >"$T/log" 2>&1
is "$?" 0 "--once makes the thumbnails"
check "... all 6" grep -q "made 6," "$T/log"

# lookup FILE [MTIME]: what the factory finds for FILE, or "none".
lookup() { /usr/bin/python3 "$LOOKUP" "$T/cache" "$1" "${2:--}" 2>>"$T/log.lookup"; }
# shown NAME: the name for a test's description, its bytes that are not
# printable ASCII as '?' (and no backslash: echo would read it).
shown() { printf '%s' "$1" | LC_ALL=C tr -c '[:print:]' '?' | tr '\\' '?'; }
for f in "$T/in"/*; do
	# The PNG thumbwatch made: its only file in normal/ with this source's Thumb::URI.
	want=$(python3 - "$T/cache/thumbnails/normal" "$f" <<'PY'
import os, struct, sys
folder, src = sys.argv[1], os.fsencode(sys.argv[2])
for n in sorted(os.listdir(folder)):
    d = open(os.path.join(folder, n), "rb").read()
    p = 8
    while p < len(d):
        size, = struct.unpack(">I", d[p:p + 4])
        if d[p + 4:p + 8] == b"tEXt":
            k, v = d[p + 8:p + 8 + size].split(b"\0", 1)
            if k == b"Thumb::URI":
                path = b"".join(bytes([int(s[:2], 16)]) + s[2:] if i else s
                                for i, s in enumerate(v[len(b"file://"):].split(b"%")))
                if path == src:
                    print(os.path.join(folder, n))
        p += 12 + size
PY
)
	got=$(lookup "$f")
	is "$got" "${want:-(no thumbnail)}" "$(shown "${f##*/}"): GNOME's factory finds thumbwatch's PNG"
done

# Controls: a file made after the pass has no thumbnail, and a thumbnail of
# another mtime is not the file's.
cp "$T/sample.jpg" "$T/in/later (2).jpg"
is "$(lookup "$T/in/later (2).jpg")" none "a file with no thumbnail: the factory finds none"
mtime=$(stat -c %Y "$T/in/photo (1).jpg")
is "$(lookup "$T/in/photo (1).jpg" $((mtime + 1)))" none "another mtime: the factory finds none"
if [ "$failed" -gt 0 ] && [ -s "$T/log.lookup" ]; then
	echo "# the lookups' stderr:"
	tail -n 20 "$T/log.lookup" | diag
fi
done_testing
