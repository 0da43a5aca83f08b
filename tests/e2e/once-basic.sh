#!/bin/sh
# --once over a tree of real images: every image gets exactly one thumbnail at
# the right path and size, in its own format; non-images are left alone; a
# second run makes nothing; a corrupt file is reported, counted, exit 1.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/in/a/b/c" "$T/in/other" "$T/in/sp ace" "$T/in/ünï"
gm convert -size 640x480 gradient:red-blue "$T/in/photo.jpg"
gm convert -size 640x480 gradient:green-white "$T/in/a/b/c/photo.jpg"
gm convert -size 3000x200 gradient:red-yellow "$T/in/a/wide.png"
gm convert -size 200x3000 gradient:blue-black "$T/in/a/b/tall.PNG"
gm convert -size 1x1 xc:white "$T/in/other/dot.gif"
gm convert -size 300x200 xc:orange "$T/in/other/pic.webp"
gm convert -size 500x400 xc:purple "$T/in/other/scan.tiff"
gm convert -size 129x1 xc:gray "$T/in/other/line.bmp"
gm convert -size 256x256 plasma: "$T/in/sp ace/my photo.jpeg"
gm convert -size 400x300 xc:teal "$T/in/ünï/фото.jpg"
echo "not an image" >"$T/in/notes.txt"
echo "also not" >"$T/in/a/README"
cp "$T/in/photo.jpg" "$T/in/a/photo.jpg.part"
images=10

"$THUMBWATCH" --once "$T/in" "$T/out" >"$T/stdout" 2>"$T/stderr"
is "$?" 0 "first run exits 0"
diag "$T/stdout" "$T/stderr"
check "summary says made $images" grep -q "^made $images, up to date 0, failed 0" "$T/stdout"

while IFS='|' read -r src thumb; do
	check "$thumb exists" test -s "$T/out/$thumb"
	check "$thumb fits 128x128 with the aspect ratio of $src" fits "$T/in/$src" "$T/out/$thumb" 128 128
	sf=$(dims "$T/in/$src"); tf=$(dims "$T/out/$thumb")
	is "${tf##* }" "${sf##* }" "$thumb keeps the format of $src"
done <<LIST
photo.jpg|photo_thumbnail.jpg
a/b/c/photo.jpg|a/b/c/photo_thumbnail.jpg
a/wide.png|a/wide_thumbnail.png
a/b/tall.PNG|a/b/tall_thumbnail.PNG
other/dot.gif|other/dot_thumbnail.gif
other/pic.webp|other/pic_thumbnail.webp
other/scan.tiff|other/scan_thumbnail.tiff
other/line.bmp|other/line_thumbnail.bmp
sp ace/my photo.jpeg|sp ace/my photo_thumbnail.jpeg
ünï/фото.jpg|ünï/фото_thumbnail.jpg
LIST
is "$(dims "$T/out/other/dot_thumbnail.gif")" "1 1 GIF" "1x1 is not upscaled"
is "$(dims "$T/out/a/wide_thumbnail.png")" "128 9 PNG" "3000x200 becomes 128x9"
is "$(dims "$T/out/a/b/tall_thumbnail.PNG")" "9 128 PNG" "200x3000 becomes 9x128"
is "$(find "$T/out" -type f | wc -l)" "$images" "exactly one thumbnail per image, nothing else"
is "$(temporaries "$T/out")" 0 "no temporary files left"
check "non-images are untouched" test "$(cat "$T/in/notes.txt")" = "not an image"
check "no progress bar when stderr is not a terminal" test -z "$(grep -c '\[#' "$T/stderr" | grep -v '^0$')"

"$THUMBWATCH" --once "$T/in" "$T/out" >"$T/stdout2" 2>&1
is "$?" 0 "second run exits 0"
check "second run makes nothing" grep -q "^made 0, up to date $images, failed 0" "$T/stdout2"
diag "$T/stdout2"

# A changed source is made again, the others are not.
sleep 0.01
gm convert -size 100x50 xc:black "$T/in/photo.jpg"
touch -d '+1 second' "$T/in/photo.jpg"
"$THUMBWATCH" --once "$T/in" "$T/out" >"$T/stdout3" 2>&1
check "a changed source is made again" grep -q "^made 1, up to date $((images - 1))," "$T/stdout3"
is "$(dims "$T/out/photo_thumbnail.jpg")" "100 50 JPEG" "... with its new content"

# On a terminal: a progress bar on stderr (script(1) gives us one).
if command -v script >/dev/null; then
	rm -rf "$T/out-tty"
	script -qec "'$THUMBWATCH' --once '$T/in' '$T/out-tty'" /dev/null >"$T/tty" 2>&1
	check "on a terminal, a progress bar" grep -q "\[[# ]*\] [0-9]*/$images" "$T/tty"
	check "... and the summary" grep -q "made $images, up to date 0, failed 0" "$T/tty"
else
	ok "# SKIP script(1) is not installed: no terminal to test the progress bar"
fi

# A corrupt file among them: reported, counted, exit 1, the rest still made.
rm -rf "$T/out"
head -c 2000 "$T/in/sp ace/my photo.jpeg" >"$T/in/a/corrupt.jpg"
"$THUMBWATCH" --once --workers 2 "$T/in" "$T/out" >"$T/stdout4" 2>"$T/stderr4"
is "$?" 1 "a corrupt image makes the run exit 1"
check "it is counted as failed" grep -q "^made $images, up to date 0, failed 1" "$T/stdout4"
check "the log names the file, its class and the reason" grep -q "a/corrupt.jpg' failed (truncated): .*JPEG" "$T/stderr4"
check "no thumbnail for the corrupt file" test ! -e "$T/out/a/corrupt_thumbnail.jpg"
is "$(find "$T/out" -type f -not -path '*/.thumbwatch/*' | wc -l)" "$images" "every other image still has its thumbnail"
check "the failure is remembered under .thumbwatch/" grep -q "truncated" "$(record "$T/out" "$T/in/a/corrupt.jpg")"
diag "$T/stdout4" "$T/stderr4"
"$THUMBWATCH" --once "$T/in" "$T/out" >"$T/stdout4b" 2>"$T/stderr4b"
is "$?" 1 "run again: the remembered failure still counts (exit 1)"
check "... but it is not decoded or logged again" test ! -s "$T/stderr4b"
check "... and counted as failed" grep -q "^made 0, up to date $images, failed 1" "$T/stdout4b"
rec=$(record "$T/out" "$T/in/a/corrupt.jpg")
cp "$T/in/photo.jpg" "$T/in/a/corrupt.jpg"
"$THUMBWATCH" --once "$T/in" "$T/out" >"$T/stdout4c" 2>&1
is "$?" 0 "once the file changes it is tried again, and made"
check "... and its failure record is gone" test ! -e "$rec"
rm "$T/in/a/corrupt.jpg"

# An output folder inside the source is never scanned: no thumbnail of a thumbnail.
head -c 2000 "$T/in/sp ace/my photo.jpeg" >"$T/in/a/corrupt.jpg"
rm -rf "$T/out"
"$THUMBWATCH" --once "$T/in" "$T/in/thumbs" >"$T/stdout5" 2>&1
"$THUMBWATCH" --once "$T/in" "$T/in/thumbs" >"$T/stdout6" 2>&1
is "$(find "$T/in/thumbs" -name '*_thumbnail_thumbnail*' | wc -l)" 0 "output inside the source: no thumbnail of a thumbnail"
check "output inside the source: second run makes nothing" grep -q "^made 0, up to date $images, failed 1" "$T/stdout6"
diag "$T/stdout6"

done_testing
